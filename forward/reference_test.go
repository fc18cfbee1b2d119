package forward

import (
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
// changes a result bit.
func TestWorkersDeterministic(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	m := loadAll(t, src)
	var first *Result
	for _, w := range []int{1, 2, 3, 7} {
		res, err := Run(m, ref.InputIDs, Options{Workers: w, Router: true})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = res
			continue
		}
		if d := maxDiff(res.Logits, first.Logits); d != 0 {
			t.Errorf("workers=%d: logits differ from workers=1 by %g", w, d)
		}
	}
}

// TestBatchIndependent checks that a position's logits do not depend on
// later positions: a causal model run on a prefix must agree bit for bit.
func TestBatchIndependent(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	m := loadAll(t, src)
	full, err := Run(m, ref.InputIDs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 7, 16} {
		part, err := Run(m, ref.InputIDs[:n], Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(part.Logits, full.Logits[:n]); d != 0 {
			t.Errorf("prefix of %d tokens: logits differ by %g", n, d)
		}
	}
}
