package synth

// BenchImportance returns importance weights for a row-major matrix of
// cols columns the way ggml's quantizer benchmark makes them: per column,
// Σx² over the first 64 rows (summed in float64) + 1e-3.
func BenchImportance(src []float32, cols int) []float32 {
	w := make([]float32, cols)
	rows := min(len(src)/cols, 64)
	for j := range w {
		var v float64
		for r := range rows {
			x := float64(src[r*cols+j])
			v += x * x
		}
		w[j] = float32(v + 1e-3)
	}
	return w
}
