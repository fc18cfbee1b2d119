//go:build !amd64

package forward

// simdKernels lists the fused tile kernels this CPU runs: none.
func simdKernels() map[string]func(kc int, x, w, c []float32) { return nil }
