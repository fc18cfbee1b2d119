package forward

import "math"

// invFreq returns the rotary inverse frequencies 1/theta^(2i/d) the way
// transformers computes them: the exponent 2i/d in float32, the power in
// float32, then the reciprocal in float32. At long positions the angle is
// pos·invFreq, so rounding here shows up in the logits.
func invFreq(theta float64, headDim int) []float32 {
	half := headDim / 2
	inv := make([]float32, half)
	for i := range inv {
		e := float32(2*i) / float32(headDim)
		p := float32(math.Pow(theta, float64(e)))
		inv[i] = 1 / p
	}
	return inv
}

// ropeTable holds cos and sin of every position's angles, [pos][headDim/2].
type ropeTable struct {
	cos, sin [][]float32
}

// newRopeTable tabulates positions 0..n-1. Angles are rounded to float32
// (transformers multiplies inv_freq by the position in float32) before
// taking cos and sin.
func newRopeTable(d Dims, n int) *ropeTable {
	inv := invFreq(d.RopeTheta, d.HeadDim)
	rt := &ropeTable{cos: newMatrix(n, len(inv)), sin: newMatrix(n, len(inv))}
	for p := range n {
		for i, f := range inv {
			a := float64(f * float32(p))
			rt.cos[p][i] = float32(math.Cos(a))
			rt.sin[p][i] = float32(math.Sin(a))
		}
	}
	return rt
}

// apply rotates one head's vector v (length headDim) in place for position
// pos. NeoX pairs dimension i with i+headDim/2 (transformers' rotate_half:
// x·cos + rotate_half(x)·sin); Normal pairs 2i with 2i+1. Both use
// frequency i for pair i.
func (rt *ropeTable) apply(v []float32, pos int, style RopeStyle) {
	cos, sin := rt.cos[pos], rt.sin[pos]
	half := len(cos)
	if style == RopeNormal {
		for i := range half {
			x0, x1 := v[2*i], v[2*i+1]
			c, s := cos[i], sin[i]
			v[2*i] = float32(x0*c) - float32(x1*s)
			v[2*i+1] = float32(x1*c) + float32(x0*s)
		}
		return
	}
	for i := range half {
		x0, x1 := v[i], v[i+half]
		c, s := cos[i], sin[i]
		v[i] = float32(x0*c) - float32(x1*s)
		v[i+half] = float32(x1*c) + float32(x0*s)
	}
}
