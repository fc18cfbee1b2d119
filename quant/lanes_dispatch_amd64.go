//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

// detectSIMDLanes returns the AVX2 lane kernels when the CPU and the OS
// support AVX2.
func detectSIMDLanes() laneKernels {
	if !cpu.X86.HasAVX2 {
		return laneKernels{}
	}
	return laneKernels{
		qkx2Sums: qkx2SumsAVX2,
		qkx2Err:  qkx2ErrAVX2,
		qkx2Mad:  qkx2MadAVX2,
		qxSums:   qxSumsAVX2,
	}
}
