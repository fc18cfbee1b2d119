package forward

import (
	"context"
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/internal/testutil"
	"github.com/mxq-dev/mxq/model"
)

// TestObserverSeesEveryLayerProduct checks that an Observer changes nothing
// and sees each decoder-layer product once, with the rows it multiplies.
func TestObserverSeesEveryLayerProduct(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	d := src.Dims()
	plain, err := RunStreamed(context.Background(), src.(ExpertSource), ref.InputIDs, StreamOptions{Options: Options{MoEInputs: true, Router: true}})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		role          model.Role
		layer, expert int
		rows, cols    int
	}
	var calls []seen
	var routerInputs [][][]float32
	observed, err := RunStreamed(context.Background(), src.(ExpertSource), ref.InputIDs, StreamOptions{Options: Options{Observe: func(w model.TensorRole, x [][]float32) {
		calls = append(calls, seen{w.Role, w.Layer, w.Expert, len(x), len(x[0])})
		if w.Role == model.RoleRouter {
			routerInputs = append(routerInputs, cloneMatrix(x))
		}
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := maxDiff(plain.Logits, observed.Logits); diff != 0 {
		t.Fatalf("logits changed by the observer: max diff %g", diff)
	}
	T := len(ref.InputIDs)
	for l := range d.Layers {
		if diff := maxDiff(routerInputs[l], plain.MoEInputs[l]); diff != 0 {
			t.Errorf("layer %d: router input differs from the MoE input by %g", l, diff)
		}
		routed := make([]int, d.Experts)
		for _, tk := range plain.TopK[l] {
			for _, e := range tk {
				routed[e]++
			}
		}
		want := []seen{
			{model.RoleAttnQ, l, -1, T, d.Hidden}, {model.RoleAttnK, l, -1, T, d.Hidden}, {model.RoleAttnV, l, -1, T, d.Hidden},
			{model.RoleAttnOutput, l, -1, T, d.Heads * d.HeadDim}, {model.RoleRouter, l, -1, T, d.Hidden},
		}
		for e, n := range routed {
			if n > 0 {
				want = append(want, seen{model.RoleExpertGate, l, e, n, d.Hidden}, seen{model.RoleExpertUp, l, e, n, d.Hidden},
					seen{model.RoleExpertDown, l, e, n, d.Intermediate})
			}
		}
		got := calls[:len(want)]
		calls = calls[len(want):]
		if !slices.Equal(got, want) {
			t.Errorf("layer %d: observed\n%v\nwant\n%v", l, got, want)
		}
	}
	if len(calls) != 0 {
		t.Errorf("%d calls after the last layer: %v", len(calls), calls)
	}
}

// TestObserverDenseRoles checks that a dense layer reports its MLP under the
// dense roles, expert -1.
func TestObserverDenseRoles(t *testing.T) {
	d := Dims{Hidden: 8, Intermediate: 12, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 4, Experts: 1, TopK: 1, Vocab: 5, RopeTheta: 1e4, RMSEps: 1e-5}
	r := &rng{s: 3}
	lw := randomLayer(d, r)
	var roles []model.TensorRole
	x := r.matrix(3, d.Hidden, 1)
	if _, err := decoderLayer(context.Background(), lw, d, x, lw.expert, exec{workers: 1}, tap{layer: 4, fn: func(w model.TensorRole, x [][]float32) { roles = append(roles, w) }}); err != nil {
		t.Fatal(err)
	}
	want := []model.TensorRole{{Role: model.RoleAttnQ, Layer: 4, Expert: -1}, {Role: model.RoleAttnK, Layer: 4, Expert: -1},
		{Role: model.RoleAttnV, Layer: 4, Expert: -1}, {Role: model.RoleAttnOutput, Layer: 4, Expert: -1},
		{Role: model.RoleFFNGate, Layer: 4, Expert: -1}, {Role: model.RoleFFNUp, Layer: 4, Expert: -1}, {Role: model.RoleFFNDown, Layer: 4, Expert: -1}}
	if !slices.Equal(roles, want) {
		t.Errorf("observed %v, want %v", roles, want)
	}
}
