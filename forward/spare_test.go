package forward

import (
	"context"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// Streamed runs over a block-format GGUF read each expert into the
// buffers of the one before: two runs over the same Source (the second
// reusing buffers from its first expert on) give the logits of the run
// that decodes whole layers to float32, bit for bit.
func TestGGUFStreamedReusesBuffers(t *testing.T) {
	st, _ := openTiny(t)
	ty := ggufTypes{embd: ggml.Q8_0, attn: ggml.Q5_K, qk: ggml.Q8_0, gate: ggml.Q4_K, down: ggml.Q6_K, up: ggml.Q4_K, output: ggml.Q6_K}
	file, _ := buildGGUF(t, loadAll(t, st), ty)
	src := openGGUF(t, file)
	tokens := []int{1, 5, 9, 33, 2, 7, 7, 100}
	want, err := Run(src, tokens, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		got, err := RunStreamed(context.Background(), src.(ExpertSource), tokens, StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got.Logits, want.Logits); d != 0 {
			t.Errorf("streamed run %d: logits differ by %g", run, d)
		}
	}
	if n := len(src.(*ggufSource).spare.bufs); n == 0 || n > maxSpare {
		t.Errorf("%d spare buffers after the runs", n)
	}
}

// An expert the forward pass is done with drops its matrices, so that
// reusing it fails instead of reading another expert's bytes.
func TestExpertDone(t *testing.T) {
	st, _ := openTiny(t)
	file, _ := buildGGUF(t, loadAll(t, st), ggufTypes{embd: ggml.F32, attn: ggml.F32, qk: ggml.F32, gate: ggml.Q8_0, down: ggml.Q8_0, up: ggml.Q8_0, output: ggml.F32})
	src := openGGUF(t, file).(ExpertSource)
	ex, err := src.Expert(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	d := src.Dims()
	x := (&rng{s: 3}).matrix(3, d.Hidden, 1)
	// A zero router sends every token to experts 0 and 1.
	calls := 0
	expert := func(e int) (*Expert, error) {
		if e != 1 {
			return src.Expert(0, e)
		}
		calls++
		return ex, nil
	}
	if _, err := MoEStreamed(context.Background(), make([]float32, d.Experts*d.Hidden), d, x, expert, 1); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || ex.QGate != nil || ex.release != nil {
		t.Fatalf("after %d calls: expert still holds its matrices", calls)
	}
	if _, err := MoEStreamed(context.Background(), make([]float32, d.Experts*d.Hidden), d, x, expert, 1); err == nil {
		t.Error("an expert used twice was accepted")
	}
}

func TestSpareBuffers(t *testing.T) {
	var p spareBuffers
	a, b := p.get(100), p.get(300)
	if len(a) != 100 || len(b) != 300 {
		t.Fatalf("lengths %d, %d", len(a), len(b))
	}
	p.put(a, b)
	if c := p.get(50); cap(c) != 100 || len(c) != 50 {
		t.Errorf("got cap %d len %d, want the 100-byte buffer cut to 50", cap(c), len(c))
	}
	for _, n := range []int{10, 20, 30, 400, 500} {
		p.put(make([]byte, n))
	}
	if len(p.bufs) != maxSpare {
		t.Fatalf("%d spare buffers kept", len(p.bufs))
	}
	for _, s := range p.bufs {
		if cap(s) < 30 {
			t.Errorf("kept a %d-byte buffer over larger ones", cap(s))
		}
	}
}
