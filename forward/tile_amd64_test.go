//go:build !purego

package forward

import "golang.org/x/sys/cpu"

// simdKernels lists the fused tile kernels this CPU runs.
func simdKernels() map[string]func(kc int, x, w, c []float32) {
	k := map[string]func(kc int, x, w, c []float32){}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		k["avx2"] = tileAVX2
	}
	if cpu.X86.HasAVX512F {
		k["avx512"] = tileAVX512
	}
	return k
}

// simdKernelsBF16 lists the bf16 tile kernels this CPU runs.
func simdKernelsBF16() map[string]func(kp int, x, w []uint32, c []float32) {
	k := map[string]func(kp int, x, w []uint32, c []float32){}
	if cpu.X86.HasAVX512BF16 && cpu.X86.HasAVX512F {
		k["avx512bf16"] = tileAVX512BF16
	}
	return k
}
