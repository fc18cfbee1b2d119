//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _asm && go run ./rowpass -out ../rowpass_amd64.s -stubs ../rowpass_amd64.go -pkg quant"

// detectRowPass returns the AVX2 row-pass kernels when the CPU and the OS
// support AVX2; the error metrics' kernel also needs FMA, and takes
// 512-bit registers where there are (the same sums either way).
func detectRowPass() rowPassKernels {
	if !cpu.X86.HasAVX2 {
		return rowPassKernels{}
	}
	k := rowPassKernels{decodeBF16: decodeBF16AVX2, finiteGroups: finiteGroupsAVX2}
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasFMA:
		k.statsRow = statsRowAVX512
	case cpu.X86.HasFMA:
		k.statsRow = statsRowAVX2
	}
	return k
}
