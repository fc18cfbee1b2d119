//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _asm && go run ./rowpass -out ../rowpass_amd64.s -stubs ../rowpass_amd64.go -pkg quant"

// detectRowPass returns the AVX2 row-pass kernels when the CPU and the OS
// support AVX2.
func detectRowPass() rowPassKernels {
	if !cpu.X86.HasAVX2 {
		return rowPassKernels{}
	}
	return rowPassKernels{statsRow: statsRowAVX2, decodeBF16: decodeBF16AVX2, finiteGroups: finiteGroupsAVX2}
}
