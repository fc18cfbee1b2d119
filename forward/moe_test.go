package forward

import (
	"context"
	"math"
	"slices"
	"testing"
)

func TestRoute(t *testing.T) {
	// Softmax of {0, 2, 1, -1}: the probabilities of experts 1 and 2.
	z := 1 + math.Exp(2) + math.Exp(1) + math.Exp(-1)
	for _, tc := range []struct {
		name   string
		logits []float32
		k      int
		renorm bool
		top    []int
		w      []float32
	}{
		{"two of four", []float32{0, 2, 1, -1}, 2, true, []int{1, 2}, []float32{float32(1 / (1 + math.Exp(-1))), float32(1 / (1 + math.Exp(1)))}},
		{"two of four, not renormalised", []float32{0, 2, 1, -1}, 2, false, []int{1, 2}, []float32{float32(math.Exp(2) / z), float32(math.Exp(1) / z)}},
		{"tie keeps lower index", []float32{1, 3, 3, 0}, 2, true, []int{1, 2}, []float32{0.5, 0.5}},
		{"top one", []float32{-5, -4, -6}, 1, true, []int{1}, []float32{1}},
		{"all", []float32{0, 0}, 2, true, []int{0, 1}, []float32{0.5, 0.5}},
	} {
		top, w := route(tc.logits, tc.k, tc.renorm)
		if !slices.Equal(top, tc.top) {
			t.Errorf("%s: experts %v, want %v", tc.name, top, tc.top)
		}
		for i := range w {
			if math.Abs(float64(w[i]-tc.w[i])) > 1e-6 {
				t.Errorf("%s: weights %v, want %v", tc.name, w, tc.w)
				break
			}
		}
	}
}

// TestIdenticalExpertsEqualDense: routing weights sum to one, so a MoE
// whose experts are all the same MLP computes that MLP.
func TestIdenticalExpertsEqualDense(t *testing.T) {
	d := Dims{Hidden: 32, Intermediate: 48, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 16, Experts: 4, TopK: 2, Vocab: 8, RopeTheta: 1e4, RMSEps: 1e-5}
	r := &rng{s: 7}
	lw := randomLayer(d, r)
	for e := range lw.Experts {
		lw.Experts[e] = lw.Experts[0]
	}
	dense := *lw
	dense.Router, dense.Experts = nil, lw.Experts[:1]
	dd := d
	dd.Experts, dd.TopK = 1, 1

	x := r.matrix(5, d.Hidden, 1)
	moe, err := MoE(lw, d, x, 0)
	if err != nil {
		t.Fatal(err)
	}
	mlp, err := MoE(&dense, dd, x, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := maxDiff(moe.Out, mlp.Out); diff > 1e-6 {
		t.Errorf("MoE of identical experts differs from the MLP by %g", diff)
	}
	if mlp.RouterLogits != nil || !slices.Equal(mlp.TopK[0], []int{0}) {
		t.Errorf("dense layer reported routing %v %v", mlp.RouterLogits, mlp.TopK[0])
	}
	// The whole layer runs dense too.
	if _, err := DecoderLayer(&dense, dd, x, 0); err != nil {
		t.Fatal(err)
	}
}

// TestExpertMLP checks one SwiGLU expert against a direct float64
// evaluation of w2(silu(w1 x) * w3 x).
func TestExpertMLP(t *testing.T) {
	d := Dims{Hidden: 12, Intermediate: 20}
	r := &rng{s: 3}
	ex := Expert{Gate: r.vec(20*12, 0.5), Down: r.vec(12*20, 0.5), Up: r.vec(20*12, 0.5)}
	x := r.matrix(3, 12, 1)
	y := expertMLP(context.Background(), &ex, d, x, exec{workers: 2}, expertTap{}, &mlpScratch{})
	for t0, xt := range x {
		act := make([]float64, 20)
		for o := range act {
			var g, u float64
			for i, v := range xt {
				g += float64(ex.Gate[o*12+i]) * float64(v)
				u += float64(ex.Up[o*12+i]) * float64(v)
			}
			act[o] = g / (1 + math.Exp(-g)) * u
		}
		for o := range 12 {
			var s float64
			for i, a := range act {
				s += float64(ex.Down[o*20+i]) * a
			}
			if math.Abs(s-float64(y[t0][o])) > 1e-5 {
				t.Fatalf("token %d output %d: %g, want %g", t0, o, y[t0][o], s)
			}
		}
	}
}

func TestMatmul(t *testing.T) {
	r := &rng{s: 5}
	const out, in = 37, 19
	w := r.vec(out*in, 1)
	x := r.matrix(5, in, 1)
	for _, workers := range []int{1, 2, 4} {
		y := newMatrix(5, out)
		matmul(context.Background(), w, out, in, x, y, workers)
		for t0 := range x {
			for o := range out {
				var s float64
				for i := range in {
					s += float64(w[o*in+i]) * float64(x[t0][i])
				}
				if math.Abs(s-float64(y[t0][o])) > 1e-5 {
					t.Fatalf("workers %d: y[%d][%d] = %g, want %g", workers, t0, o, y[t0][o], s)
				}
			}
		}
	}
}
