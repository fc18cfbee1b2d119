package forward

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/internal/testutil"
)

// TestTinyMixtralMatchesTransformers runs the real tiny checkpoint and
// compares with what transformers computed in float32.
func TestTinyMixtralMatchesTransformers(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	res, err := Run(src, ref.InputIDs, Options{Router: true, Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Logits) != len(ref.Logits) {
		t.Fatalf("%d logit rows, want %d", len(res.Logits), len(ref.Logits))
	}
	d := maxDiff64(res.Logits, ref.Logits)
	t.Logf("logits: max abs diff %.3g over %d positions", d, len(ref.Logits))
	if d > 1e-4 {
		t.Errorf("logits differ from transformers by %g, want <= 1e-4", d)
	}

	if len(res.Hidden) != len(ref.Hidden) {
		t.Fatalf("%d hidden-state sets, want %d", len(res.Hidden), len(ref.Hidden))
	}
	for l := range ref.Hidden {
		d := maxDiff64(res.Hidden[l], ref.Hidden[l])
		t.Logf("hidden_states[%d]: max abs diff %.3g", l, d)
		if d > 1e-4 {
			t.Errorf("hidden_states[%d] differ by %g, want <= 1e-4", l, d)
		}
	}

	for l := range ref.RouterLogits {
		d := maxDiff64(res.RouterLogits[l], ref.RouterLogits[l])
		t.Logf("router_logits[%d]: max abs diff %.3g", l, d)
		if d > 1e-4 {
			t.Errorf("router logits of layer %d differ by %g", l, d)
		}
		agree := 0
		for p, want := range ref.RouterTopK[l] {
			got := slices.Sorted(slices.Values(res.TopK[l][p]))
			if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Errorf("layer %d position %d: experts %v, transformers chose %v", l, p, res.TopK[l][p], want)
				continue
			}
			agree++
		}
		t.Logf("layer %d: top-2 sets agree at %d/%d positions", l, agree, len(ref.RouterTopK[l]))
	}
}

// TestLayerwiseMatchesRun feeds Run's collected states through the
// layer-wise entry points and expects bit-identical results.
func TestLayerwiseMatchesRun(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	m := loadAll(t, src)
	res, err := Run(m, ref.InputIDs, Options{Router: true, Hidden: true, MoEInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	d := m.Dims()
	lr, err := DecoderLayer(m.layers[0], d, res.Hidden[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := maxDiff(lr.Out, res.Hidden[1]); diff != 0 {
		t.Errorf("DecoderLayer output differs from Run's by %g", diff)
	}
	for l := range d.Layers {
		out, topk, w, err := MoEBlock(m.layers[l], d, res.MoEInputs[l])
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(ref.InputIDs) {
			t.Fatalf("MoEBlock returned %d rows", len(out))
		}
		for p := range topk {
			if !slices.Equal(topk[p], res.TopK[l][p]) || !slices.Equal(w[p], res.TopKWeights[l][p]) {
				t.Errorf("layer %d position %d: MoEBlock routed %v %v, Run %v %v", l, p, topk[p], w[p], res.TopK[l][p], res.TopKWeights[l][p])
			}
		}
	}
	if diff := maxDiff(lr.MoEInput, res.MoEInputs[0]); diff != 0 {
		t.Errorf("MoE input differs by %g", diff)
	}
}

// TestWorkersDeterministic checks that the number of goroutines never
// changes a result bit, in either arithmetic.
func TestWorkersDeterministic(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	m := loadAll(t, src)
	for _, a := range []Arithmetic{Float32, BF16} {
		var first *Result
		for _, w := range []int{1, 2, 3, 7} {
			res, err := Run(m, ref.InputIDs, Options{Workers: w, Router: true, Arithmetic: a})
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = res
				continue
			}
			if d := maxDiff(res.Logits, first.Logits); d != 0 {
				t.Errorf("%v, workers=%d: logits differ from workers=1 by %g", a, w, d)
			}
		}
	}
}

// TestBatchIndependent checks that a position's logits do not depend on
// later positions: a causal model run on a prefix must agree bit for bit,
// in either arithmetic.
func TestBatchIndependent(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	m := loadAll(t, src)
	for _, a := range []Arithmetic{Float32, BF16} {
		full, err := Run(m, ref.InputIDs, Options{Arithmetic: a})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 7, 16} {
			part, err := Run(m, ref.InputIDs[:n], Options{Arithmetic: a})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(part.Logits, full.Logits[:n]); d != 0 {
				t.Errorf("%v, prefix of %d tokens: logits differ by %g", a, n, d)
			}
		}
	}
}

// TestBF16NearTransformers runs the tiny checkpoint in the bf16 arithmetic:
// its logits stay within bfloat16's precision of transformers' float32
// ones (a few parts in a thousand of their spread), and the float32 ones
// are unchanged by the option's existence.
func TestBF16NearTransformers(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	res, err := Run(src, ref.InputIDs, Options{Arithmetic: BF16})
	if err != nil {
		t.Fatal(err)
	}
	spread := 0.0
	for _, row := range ref.Logits {
		for _, v := range row {
			spread = max(spread, math.Abs(v))
		}
	}
	d := maxDiff64(res.Logits, ref.Logits)
	t.Logf("bf16: max |logit - transformers'| = %.3g (largest |logit| %.3g)", d, spread)
	if d == 0 || d > 0.02*spread {
		t.Errorf("bf16 logits differ from transformers' by %g, want within (0, %g]", d, 0.02*spread)
	}
}

// TestArithmeticNames checks the names the command line uses.
func TestArithmeticNames(t *testing.T) {
	for _, a := range []Arithmetic{Float32, BF16} {
		got, err := ParseArithmetic(a.String())
		if err != nil || got != a {
			t.Errorf("ParseArithmetic(%q) = %v, %v", a.String(), got, err)
		}
	}
	for _, bad := range []string{"", "fp32", "BF16", "f16"} {
		if _, err := ParseArithmetic(bad); err == nil {
			t.Errorf("ParseArithmetic(%q) accepted", bad)
		}
	}
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	if _, err := Run(src, ref.InputIDs, Options{Arithmetic: 7}); err == nil {
		t.Error("Run accepted an unknown arithmetic")
	}
	if _, _, err := (LayerPieces{Arithmetic: -1}).Attention(context.Background(), &LayerWeights{}, src.Dims(), [][]float32{{1}}); err == nil {
		t.Error("LayerPieces accepted an unknown arithmetic")
	}
}
