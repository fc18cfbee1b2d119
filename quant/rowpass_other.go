//go:build !amd64 || purego

package quant

// detectRowPass: no SIMD row-pass kernels on this platform.
func detectRowPass() rowPassKernels { return rowPassKernels{} }
