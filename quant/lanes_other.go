//go:build !amd64 || purego

package quant

// detectSIMDLanes: no SIMD lane kernels on this platform.
func detectSIMDLanes() laneKernels { return laneKernels{} }
