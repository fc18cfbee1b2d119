//go:build !amd64 || purego

package forward

// simdKernels lists the fused tile kernels this CPU runs: none.
func simdKernels() map[string]func(kc int, x, w, c []float32) { return nil }

// simdKernelsBF16 lists the bf16 tile kernels this CPU runs: none.
func simdKernelsBF16() map[string]func(kp int, x, w []uint32, c []float32) { return nil }
