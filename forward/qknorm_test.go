package forward

import (
	"math"
	"testing"
)

// With per-head q/k RMS norms attention no longer depends on the scale of
// the q and k projections (the norms' eps aside); without them it does.
func TestQKNormRemovesProjectionScale(t *testing.T) {
	for _, qkNorm := range []bool{true, false} {
		d := Dims{Hidden: 32, Intermediate: 48, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 8, Experts: 4, TopK: 2,
			Vocab: 8, RopeTheta: 1e4, RMSEps: 1e-6, QKNorm: qkNorm}
		r := &rng{s: 11}
		lw := randomLayer(d, r)
		if qkNorm {
			lw.QNorm, lw.KNorm = r.vec(d.HeadDim, 0.3), r.vec(d.HeadDim, 0.3)
		}
		h := make([][]float32, 5)
		for i := range h {
			h[i] = r.vec(d.Hidden, 1)
		}
		base, err := DecoderLayer(lw, d, h, 1)
		if err != nil {
			t.Fatal(err)
		}
		scaled := *lw
		scaled.Q, scaled.K = scaleAll(lw.Q, 4), scaleAll(lw.K, 3)
		got, err := DecoderLayer(&scaled, d, h, 1)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for p := range base.Out {
			for i := range base.Out[p] {
				worst = max(worst, math.Abs(float64(base.Out[p][i]-got.Out[p][i])))
			}
		}
		if qkNorm && worst > 1e-4 || !qkNorm && worst < 1e-3 {
			t.Errorf("qk norm %v: scaling q by 4 and k by 3 changed the layer output by %.3g", qkNorm, worst)
		}
	}
}

func scaleAll(w []float32, c float32) []float32 {
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = v * c
	}
	return out
}
