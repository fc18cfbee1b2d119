package forward

import "math"

// rmsNorm writes w ⊙ x·rsqrt(mean(x²)+eps) to dst. The mean is accumulated
// in float64; the scaling is done in float32 in transformers' order
// (x times the reciprocal root, then times the weight).
func rmsNorm(dst, x, w []float32, eps float64) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	variance := float32(ss / float64(len(x)))
	r := float32(1 / math.Sqrt(float64(variance+float32(eps))))
	w = w[:len(x)]
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = w[i] * (v * r)
	}
}

// rmsNormRows normalises every row of x into a new matrix.
func rmsNormRows(x [][]float32, w []float32, eps float64) [][]float32 {
	out := newMatrix(len(x), len(w))
	for t := range x {
		rmsNorm(out[t], x[t], w, eps)
	}
	return out
}
