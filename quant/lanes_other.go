//go:build !amd64 || purego

package quant

// detectSIMDLanes: no SIMD lane kernels on this platform.
func detectSIMDLanes() laneKernels { return laneKernels{} }

// detectSIMDLegacy: no SIMD legacy block quantizers on this platform.
func detectSIMDLegacy() legacyKernels { return legacyKernels{} }
