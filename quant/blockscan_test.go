package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The fast block scans must agree bit for bit with the plain C loops
// (cAbsMax and friends) on any input.
func TestBlockScansMatchC(t *testing.T) {
	special := []float32{
		0, float32(math.Copysign(0, -1)), 1, -1, 2, -2, 0.5, -0.5,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0xffc00001), math.Float32frombits(0x7f800001),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
	}
	r := rand.New(rand.NewPCG(8, 9))
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	for trial := range 200000 {
		x := make([]float32, 32)
		// Few distinct values, so ties and signed zeros are common; a third of
		// the blocks use nothing else.
		pool := special[:2+trial%(len(special)-1)]
		for i := range x {
			if trial%3 != 0 && r.IntN(4) == 0 {
				x[i] = float32(r.NormFloat64())
			} else {
				x[i] = pool[r.IntN(len(pool))]
			}
		}
		if g, w := absMax(x), cAbsMax(x); !same(g, w) {
			t.Fatalf("absMax(%v) = %g, C gives %g", x, g, w)
		}
		if g, w := signedAbsMax(x), cSignedAbsMax(x); !same(g, w) {
			t.Fatalf("signedAbsMax(%v) = %g (%#x), C gives %g (%#x)", x, g, math.Float32bits(g), w, math.Float32bits(w))
		}
		gmin, gmax := minMax(x)
		wmin, wmax := cMinMax(x)
		if !same(gmin, wmin) || !same(gmax, wmax) {
			t.Fatalf("minMax(%v) = %g, %g; C gives %g, %g", x, gmin, gmax, wmin, wmax)
		}
	}
}
