package validate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/mxq-dev/mxq/convert"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/synth"
	"github.com/mxq-dev/mxq/internal/testutil"
)

const tinyDir = "../testdata/tiny-mixtral"

func open(t testing.TB, path string) *Model {
	t.Helper()
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// ggufCache holds GGUF files converted once per test binary, under
// testRoot, which TestMain removes.
var (
	ggufCache sync.Map
	testRoot  string
)

// writeGGUF converts src with mxq's converter (what `mxq quantize` runs)
// into dir and returns the file.
func writeGGUF(t testing.TB, src string, ft ggml.FileType) string {
	t.Helper()
	key := src + "|" + ft.String()
	if p, ok := ggufCache.Load(key); ok {
		return p.(string)
	}
	s, err := convert.OpenSource(src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := convert.PlanGGUF(s, convert.GGUFOptions{FileType: ft})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(testRoot, "gguf-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, ft.String()+".gguf")
	if _, err := p.Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	ggufCache.Store(key, out)
	return out
}

func TestMain(m *testing.M) {
	var err error
	if testRoot, err = os.MkdirTemp("", "mxq-validate-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(testRoot)
	os.Exit(code)
}

// checkAgainstTransformers runs m on the reference tokens and compares the
// logits (within tol) and every layer's top-2 experts with transformers'.
func checkAgainstTransformers(t *testing.T, m *Model, tol float64) {
	t.Helper()
	ref := testutil.TinyReference(t)
	res, err := forward.RunStreamed(context.Background(), m.Source, ref.InputIDs, forward.StreamOptions{Options: forward.Options{Router: true}})
	if err != nil {
		t.Fatal(err)
	}
	var d float64
	for p := range ref.Logits {
		for v := range ref.Logits[p] {
			d = max(d, math.Abs(float64(res.Logits[p][v])-ref.Logits[p][v]))
		}
	}
	t.Logf("%s (%s): logits max abs diff %.3g over %d positions", filepath.Base(m.Path), m.Format, d, len(ref.Logits))
	if d > tol {
		t.Errorf("logits differ from transformers' by %g, want <= %g", d, tol)
	}
	if len(res.TopK) != len(ref.RouterTopK) {
		t.Fatalf("%d routed layers, want %d", len(res.TopK), len(ref.RouterTopK))
	}
	for l := range ref.RouterTopK {
		for p, want := range ref.RouterTopK[l] {
			if !slices.Equal(slices.Sorted(slices.Values(res.TopK[l][p])), slices.Sorted(slices.Values(want))) {
				t.Errorf("layer %d position %d: experts %v, transformers chose %v", l, p, res.TopK[l][p], want)
			}
		}
	}
}

// TestGGUFF32MatchesTransformers reads the F32 GGUF that mxq writes (q/k
// rows permuted for llama.cpp, experts merged) back through the forward
// pass.
func TestGGUFF32MatchesTransformers(t *testing.T) {
	m := open(t, writeGGUF(t, tinyDir, ggml.FileTypeAllF32))
	if m.Format != "gguf" || m.Source.Dims().RopeStyle != forward.RopeNormal {
		t.Errorf("format %s, rope %v", m.Format, m.Source.Dims().RopeStyle)
	}
	checkAgainstTransformers(t, m, 1e-4)
}

// fp16Tolerance bounds the logit error of the fp16 safetensors output.
// Its weights are tiny-mixtral's bf16 values, which fp16 holds exactly
// from 2^-14 up (bf16 has 8 significant bits, fp16 11); only the few
// smaller ones lose bits as fp16 subnormals, so the float32 bound holds.
const fp16Tolerance = 1e-4

// TestFP16SafetensorsMatchesTransformers reads mxq's fp16 safetensors
// output (`mxq quantize --format safetensors --bits 16 --dtype fp16`).
func TestFP16SafetensorsMatchesTransformers(t *testing.T) {
	src, err := convert.OpenSource(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p, err := convert.PlanSafetensors(src, convert.SafetensorsOptions{Bits: 16, DType: safetensors.F16})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "fp16")
	if _, err := p.Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	m := open(t, out)
	if m.Format != "safetensors" || !near(m.BitsPerWeight, 16, 1e-9) {
		t.Errorf("format %s, %v bits/weight", m.Format, m.BitsPerWeight)
	}
	checkAgainstTransformers(t, m, fp16Tolerance)
}

// TestIdenticalModels expects zero divergence and full agreement.
func TestIdenticalModels(t *testing.T) {
	ref := testutil.TinyReference(t)
	a, b := open(t, tinyDir), open(t, tinyDir)
	r, err := EndToEnd(context.Background(), a, b, ref.InputIDs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := r.Logits
	if l.KLD.Max != 0 || l.Top1Agreement != 1 || l.PerplexityReference != l.PerplexityCandidate || l.PerplexityReference <= 1 {
		t.Errorf("identical models: %+v", l)
	}
	if len(r.Routing) != 2 {
		t.Fatalf("%d routed layers", len(r.Routing))
	}
	for _, s := range r.Routing {
		if s.Agreement != 1 || s.Overlap != 1 || s.WeightL1 != 0 || s.Tokens != len(ref.InputIDs) {
			t.Errorf("identical routing: %+v", s)
		}
	}
	if r.Reference.Format != "safetensors" || !near(r.Reference.BitsPerWeight, 16, 1e-9) {
		t.Errorf("reference info %+v", r.Reference)
	}
}

// TestQ4KM compares the tiny model with its Q4_K_M GGUF: the numbers must
// show a real but moderate loss.
func TestQ4KM(t *testing.T) {
	ref := testutil.TinyReference(t)
	r, err := EndToEnd(context.Background(), open(t, tinyDir), open(t, writeGGUF(t, tinyDir, ggml.FileTypeQ4_K_M)), ref.InputIDs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := r.Logits
	t.Logf("Q4_K_M: KLD mean %.4g p99 %.4g max %.4g, top-1 %.3f, ppl %.3f → %.3f, %.2f bits/weight",
		l.KLD.Mean, l.KLD.P99, l.KLD.Max, l.Top1Agreement, l.PerplexityReference, l.PerplexityCandidate, r.Candidate.BitsPerWeight)
	if !(l.KLD.Mean > 0 && l.KLD.Mean < 0.5 && l.KLD.Mean <= l.KLD.P99 && l.KLD.P99 <= l.KLD.Max) {
		t.Errorf("implausible KLD %+v", l.KLD)
	}
	if l.Top1Agreement < 0.5 || l.Top1Agreement > 1 {
		t.Errorf("top-1 agreement %v", l.Top1Agreement)
	}
	if b := r.Candidate.BitsPerWeight; b < 4 || b > 6 {
		t.Errorf("Q4_K_M at %v bits/weight", b)
	}
	for _, s := range r.Routing {
		t.Logf("layer %d: routing agreement %.3f, overlap %.3f, weight L1 %.4f", s.Layer, s.Agreement, s.Overlap, s.WeightL1)
		if s.Agreement < 0.5 || s.Overlap < s.Agreement || s.WeightL1 <= 0 {
			t.Errorf("implausible routing %+v", s)
		}
	}
}

// streamOnly fails if a whole layer is requested: validation must read
// experts one at a time.
type streamOnly struct{ forward.ExpertSource }

func (streamOnly) Layer(int) (*forward.LayerWeights, error) {
	return nil, errors.New("whole layer requested")
}

// synthDir writes a small synthetic Mixtral (tiny-mixtral's tokenizer) once.
var synthDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp(testRoot, "synth-")
	if err != nil {
		return "", err
	}
	cfg := synth.Config{Hidden: 64, Intermediate: 128, Layers: 3, Heads: 4, KVHeads: 2, Experts: 4, TopK: 2, Vocab: 1024}
	return dir, synth.Write(context.Background(), dir, cfg, tinyDir, 42)
})

func smallSynth(t *testing.T) string {
	t.Helper()
	dir, err := synthDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLayerWise(t *testing.T) {
	dir := smallSynth(t)
	tokens := testutil.TinyReference(t).InputIDs
	ref := open(t, dir)
	q8 := open(t, writeGGUF(t, dir, ggml.FileTypeQ8_0))
	ref.Source, q8.Source = streamOnly{ref.Source}, streamOnly{q8.Source}

	same, err := LayerWise(context.Background(), ref, open(t, dir), LayerWiseOptions{Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	if same.States.Source != "reference" || len(same.Layers) != 3 || same.Tokens != len(tokens) {
		t.Fatalf("auto states: %+v, %d layers", same.States, len(same.Layers))
	}
	for _, s := range same.Layers {
		if s.RelError != 0 || s.Cosine != 1 || s.Agreement != 1 || s.WeightL1 != 0 {
			t.Errorf("identical MoE blocks: %+v", s)
		}
	}

	for _, states := range []string{"reference", "random"} {
		r, err := LayerWise(context.Background(), ref, q8, LayerWiseOptions{Layers: []int{2, 0}, States: states, Tokens: tokens, Samples: 48, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if r.States.Source != states || len(r.Layers) != 2 || r.Layers[0].Layer != 0 || r.Layers[1].Layer != 2 {
			t.Fatalf("%s: states %+v, layers %+v", states, r.States, r.Layers)
		}
		for _, s := range r.Layers {
			t.Logf("%s states, Q8_0 layer %d: rel error %.4g, cosine %.6f, routing %.3f, weight L1 %.4f", states, s.Layer, s.RelError, s.Cosine, s.Agreement, s.WeightL1)
			if !(s.RelError > 0 && s.RelError < 0.05 && s.Cosine > 0.99 && s.Agreement > 0.8) {
				t.Errorf("%s: implausible Q8_0 layer %+v", states, s)
			}
			if s.Tokens != r.Tokens {
				t.Errorf("%s: %d routed tokens of %d", states, s.Tokens, r.Tokens)
			}
		}
		if states == "random" && r.Tokens != 48 {
			t.Errorf("random states: %d rows", r.Tokens)
		}
	}

	r, err := EndToEnd(context.Background(), ref, q8, tokens, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Logits.KLD.Mean <= 0 || len(r.Routing) != 3 {
		t.Errorf("end to end: %+v", r.Logits)
	}

	for _, o := range []LayerWiseOptions{{Layers: []int{3}}, {Layers: []int{}}, {States: "reference"}, {States: "bogus", Tokens: tokens}} {
		if _, err := LayerWise(context.Background(), ref, q8, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestIncompatibleModels(t *testing.T) {
	_, err := EndToEnd(context.Background(), open(t, tinyDir), open(t, smallSynth(t)), []int{1, 2}, Options{})
	if err == nil {
		t.Error("models of different shapes compared")
	}
}

// TestTokenizers expects a GGUF written by mxq to encode text exactly as
// the Hugging Face folder it came from.
func TestTokenizers(t *testing.T) {
	hf, err := open(t, tinyDir).Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	gg, err := open(t, writeGGUF(t, tinyDir, ggml.FileTypeAllF32)).Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	ref := testutil.TinyReference(t)
	a, b := hf.Encode(DefaultPrompt, true), gg.Encode(DefaultPrompt, true)
	if !slices.Equal(a, b) || len(a) < 50 || a[0] != 1 {
		t.Errorf("HF tokens %v\nGGUF tokens %v", a, b)
	}
	if got := hf.Encode("The router picks two of the eight experts for every token.", true); !slices.Equal(got, ref.InputIDs) {
		t.Errorf("reference prompt encodes to %v, transformers had %v", got, ref.InputIDs)
	}
}

// TestSafetensorsLayouts reads the int4 checkpoints mxq writes in each
// safetensors layout (and compressed-tensors int8) and compares them with
// the original.
func TestSafetensorsLayouts(t *testing.T) {
	ref := testutil.TinyReference(t)
	base := open(t, tinyDir)
	src, err := convert.OpenSource(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	kld := map[string]float64{}
	for _, c := range []struct {
		layout string
		bits   int
	}{{convert.LayoutCompressedTensors, 8}, {convert.LayoutCompressedTensors, 4}, {convert.LayoutGPTQ, 4}, {convert.LayoutMLX, 4}} {
		name := fmt.Sprintf("%s int%d", c.layout, c.bits)
		p, err := convert.PlanSafetensors(src, convert.SafetensorsOptions{Bits: c.bits, Layout: c.layout})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), c.layout)
		if _, err := p.Write(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		m := open(t, out)
		if m.Format != c.layout {
			t.Errorf("%s: opened as %s", name, m.Format)
		}
		r, err := EndToEnd(context.Background(), base, m, ref.InputIDs[:16], Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		l := r.Logits
		t.Logf("%s: %.2f bits/weight, KLD mean %.4g max %.4g, top-1 %.3f, routing %.3f/%.3f", name,
			m.BitsPerWeight, l.KLD.Mean, l.KLD.Max, l.Top1Agreement, r.Routing[0].Agreement, r.Routing[1].Agreement)
		kld[name] = l.KLD.Mean
		if !(l.KLD.Mean > 0 && l.KLD.Mean < 0.5) || m.BitsPerWeight > float64(c.bits)+5 {
			t.Errorf("%s: implausible KLD %v at %v bits/weight", name, l.KLD.Mean, m.BitsPerWeight)
		}
	}
	if kld["compressed-tensors int8"] >= kld["compressed-tensors int4"]/10 {
		t.Errorf("int8 KLD %v is not far below int4 KLD %v", kld["compressed-tensors int8"], kld["compressed-tensors int4"])
	}
}
