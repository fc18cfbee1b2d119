package quant

// Pieces shared by the importance-weighted quantizers (ggml's
// quantize_row_*_impl with quant_weights set).

// sumSquares is Σx², summed from the first element to the last.
func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s
}

// importanceWeights sets w[l] = qw[l]·√(sigma2 + x[l]²), the per-value
// weight ggml fits with: the imatrix column's importance, scaled up for
// values large against the row's (or super-block's) spread sigma2. It
// returns Σw, summed in order.
func importanceWeights(w, x, qw []float32, sigma2 float32) (sum float32) {
	w = w[:len(x)]
	qw = qw[:len(x)]
	for l, v := range x {
		w[l] = qw[l] * sqrt32(sigma2+float32(v*v))
		sum += w[l]
	}
	return sum
}
