package forward

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/testutil"
)

// sameResult fails unless two runs agree bit for bit in everything they
// collected.
func sameResult(t *testing.T, what string, got, want *Result) {
	t.Helper()
	if len(got.Logits) != len(want.Logits) || maxDiff(got.Logits, want.Logits) != 0 {
		t.Errorf("%s: logits differ (max %g)", what, maxDiff(got.Logits, want.Logits))
	}
	if len(got.TopK) != len(want.TopK) || len(got.MoEInputs) != len(want.MoEInputs) || len(got.Hidden) != len(want.Hidden) {
		t.Fatalf("%s: collected %d/%d/%d layers, want %d/%d/%d", what,
			len(got.TopK), len(got.MoEInputs), len(got.Hidden), len(want.TopK), len(want.MoEInputs), len(want.Hidden))
	}
	for l := range want.TopK {
		if d := maxDiff(got.RouterLogits[l], want.RouterLogits[l]); d != 0 {
			t.Errorf("%s: layer %d router logits differ by %g", what, l, d)
		}
		for p := range want.TopK[l] {
			if !slices.Equal(got.TopK[l][p], want.TopK[l][p]) || !slices.Equal(got.TopKWeights[l][p], want.TopKWeights[l][p]) {
				t.Errorf("%s: layer %d position %d routed %v %v, want %v %v", what, l, p,
					got.TopK[l][p], got.TopKWeights[l][p], want.TopK[l][p], want.TopKWeights[l][p])
			}
		}
	}
	for l := range want.MoEInputs {
		if d := maxDiff(got.MoEInputs[l], want.MoEInputs[l]); d != 0 {
			t.Errorf("%s: layer %d MoE input differs by %g", what, l, d)
		}
	}
	for l := range want.Hidden {
		if d := maxDiff(got.Hidden[l], want.Hidden[l]); d != 0 {
			t.Errorf("%s: hidden state %d differs by %g", what, l, d)
		}
	}
}

var collectAll = Options{Router: true, Hidden: true, MoEInputs: true}

// TestRunStreamedMatchesRun expects the expert-at-a-time path to compute
// exactly what Run computes, from safetensors and from GGUF.
func TestRunStreamedMatchesRun(t *testing.T) {
	ref := testutil.TinyReference(t)
	st, _ := openTiny(t)
	m := loadAll(t, st)
	want, err := Run(m, ref.InputIDs, collectAll)
	if err != nil {
		t.Fatal(err)
	}
	got, err := RunStreamed(context.Background(), st.(ExpertSource), ref.InputIDs, StreamOptions{Options: collectAll})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "safetensors", got, want)

	file, _ := buildGGUF(t, m, allF32)
	gs := openGGUF(t, file).(ExpertSource)
	wantG, err := Run(gs, ref.InputIDs, collectAll)
	if err != nil {
		t.Fatal(err)
	}
	gotG, err := RunStreamed(context.Background(), gs, ref.InputIDs, StreamOptions{Options: collectAll})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "gguf", gotG, wantG)
}

// TestRunStreamedStops runs only the first layer and checks what OnLayer
// and the result hold against a full run.
func TestRunStreamedStops(t *testing.T) {
	ref := testutil.TinyReference(t)
	st, _ := openTiny(t)
	src := st.(ExpertSource)
	full, err := Run(src, ref.InputIDs, collectAll)
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	var first *LayerResult
	part, err := RunStreamed(context.Background(), src, ref.InputIDs, StreamOptions{Options: collectAll, Layers: 1, OnLayer: func(l int, r *LayerResult) error {
		seen = append(seen, l)
		first = r
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{0}) || part.Logits != nil || len(part.Hidden) != 2 || len(part.TopK) != 1 {
		t.Fatalf("stopped run: layers %v, %d logit rows, %d hidden, %d routed layers", seen, len(part.Logits), len(part.Hidden), len(part.TopK))
	}
	if d := maxDiff(part.Hidden[1], full.Hidden[1]); d != 0 {
		t.Errorf("layer 0 output differs by %g", d)
	}
	if d := maxDiff(first.MoEInput, full.MoEInputs[0]); d != 0 {
		t.Errorf("OnLayer MoE input differs by %g", d)
	}
	if !slices.Equal(first.MoE.TopK[3], full.TopK[0][3]) {
		t.Errorf("OnLayer routing %v, want %v", first.MoE.TopK[3], full.TopK[0][3])
	}

	stop := errors.New("stop")
	if _, err := RunStreamed(context.Background(), src, ref.InputIDs, StreamOptions{OnLayer: func(int, *LayerResult) error { return stop }}); !errors.Is(err, stop) {
		t.Errorf("OnLayer error: got %v", err)
	}
	if _, err := RunStreamed(context.Background(), src, ref.InputIDs, StreamOptions{Layers: 3}); err == nil || !strings.Contains(err.Error(), "3 of 2 layers") {
		t.Errorf("Layers beyond the model: got %v", err)
	}
}

// TestPiecesMatchLayer checks LayerShared and Expert against Layer.
func TestPiecesMatchLayer(t *testing.T) {
	st, _ := openTiny(t)
	src := st.(ExpertSource)
	d := src.Dims()
	for l := range d.Layers {
		whole, err := src.Layer(l)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := src.LayerShared(l)
		if err != nil {
			t.Fatal(err)
		}
		if shared.Experts != nil || !slices.Equal(shared.Router, whole.Router) || !slices.Equal(shared.Q, whole.Q) ||
			!slices.Equal(shared.FFNNorm, whole.FFNNorm) || !slices.Equal(shared.O, whole.O) {
			t.Errorf("layer %d: LayerShared differs from Layer", l)
		}
		for e := range d.Experts {
			ex, err := src.Expert(l, e)
			if err != nil {
				t.Fatal(err)
			}
			w := whole.Experts[e]
			if !slices.Equal(ex.Gate, w.Gate) || !slices.Equal(ex.Down, w.Down) || !slices.Equal(ex.Up, w.Up) {
				t.Errorf("layer %d expert %d differs from Layer's", l, e)
			}
		}
	}
	for _, c := range [][2]int{{-1, 0}, {2, 0}, {0, 8}, {0, -1}} {
		if _, err := src.Expert(c[0], c[1]); err == nil {
			t.Errorf("Expert(%d, %d): no error", c[0], c[1])
		}
	}
}

// TestMoEStreamedDense covers the dense path: one MLP, no router.
func TestMoEStreamedDense(t *testing.T) {
	_, m := denseCheckpoint(t, nil)
	d := m.dims
	x := (&rng{s: 9}).matrix(5, d.Hidden, 1)
	want, err := MoE(m.layers[1], d, x, 0)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	got, err := MoEStreamed(context.Background(), nil, d, x, func(e int) (*Expert, error) {
		calls++
		return &m.layers[1].Experts[e], nil
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || maxDiff(got.Out, want.Out) != 0 {
		t.Errorf("dense MoEStreamed: %d expert reads, output differs by %g", calls, maxDiff(got.Out, want.Out))
	}
	if _, err := MoEStreamed(context.Background(), make([]float32, d.Hidden), d, x, nil, 0); err == nil {
		t.Error("a router on a dense layer was accepted")
	}
	bad := func(int) (*Expert, error) { return &Expert{Gate: make([]float32, 3)}, nil }
	if _, err := MoEStreamed(context.Background(), nil, d, x, bad, 0); err == nil || !strings.Contains(err.Error(), "expert 0 gate") {
		t.Errorf("short expert: got %v", err)
	}
}

// TestAttentionBlock checks the exported first half against DecoderLayer.
func TestAttentionBlock(t *testing.T) {
	d := Dims{Hidden: 32, Intermediate: 48, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 8, Experts: 4, TopK: 2, Vocab: 8, RopeTheta: 1e4, RMSEps: 1e-5}
	r := &rng{s: 77}
	lw := randomLayer(d, r)
	h := r.matrix(6, d.Hidden, 1)
	full, err := DecoderLayer(lw, d, h, 0)
	if err != nil {
		t.Fatal(err)
	}
	resid, x, err := AttentionBlock(lw, d, h, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := maxDiff(x, full.MoEInput); diff != 0 {
		t.Errorf("MoE input differs by %g", diff)
	}
	for i := range resid {
		for j := range resid[i] {
			if resid[i][j]+full.MoE.Out[i][j] != full.Out[i][j] {
				t.Fatalf("residual + MoE output != layer output at [%d][%d]", i, j)
			}
		}
	}
	if _, _, err := AttentionBlock(&LayerWeights{}, d, h, 0); err == nil {
		t.Error("empty weights accepted")
	}
}

// TestRunStreamedLazy runs a GGUF whose expert matrices have three
// different block types streamed, where the experts are read a block of
// rows at a time, in both arithmetics: the results are those of Run, which
// reads every expert whole. A read that fails is reported.
func TestRunStreamedLazy(t *testing.T) {
	ref := testutil.TinyReference(t)
	st, _ := openTiny(t)
	file, _ := buildGGUF(t, loadAll(t, st), ggufTypes{embd: ggml.Q4_K, attn: ggml.F16, qk: ggml.Q8_0, gate: ggml.Q4_0, down: ggml.Q6_K, up: ggml.Q5_K, output: ggml.Q6_K})
	src := openGGUF(t, file)
	gs := src.(*ggufSource)
	ex, err := gs.streamedExpert(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ex.QGate.rows == nil || ex.QGate.Data != nil {
		t.Fatal("a streamed expert was read whole")
	}
	for _, a := range []Arithmetic{Float32, BF16} {
		opts := Options{Router: true, Arithmetic: a}
		want, err := Run(src, ref.InputIDs, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := RunStreamed(context.Background(), gs, ref.InputIDs, StreamOptions{Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		sameResult(t, a.String(), got, want)
	}
	// Rows that cannot be read fail the block that needs them.
	ex.QDown.rows.src = io.NewSectionReader(bytes.NewReader(nil), 0, 0)
	d := gs.Dims()
	x := (&rng{s: 9}).matrix(5, d.Hidden, 1)
	expertMLP(context.Background(), ex, d, x, exec{workers: 2}, expertTap{}, &mlpScratch{})
	if err := ex.readErr(); err == nil || !strings.Contains(err.Error(), "reading rows") {
		t.Errorf("read error %v", err)
	}
}
