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
		qkx2Sums:  qkx2SumsAVX2,
		qkx2Range: qkx2RangeAVX2,
		qkx2Err:   qkx2ErrAVX2,
		qkx2Mad:   qkx2MadAVX2,
		qxSums:    qxSumsAVX2,
		q3Pass:    q3PassAVX2,
	}
}

// detectSIMDLegacy returns the AVX2 legacy block quantizers when the CPU
// and the OS support AVX2, with the AVX-512 float16 and bfloat16 encoders
// when they support that too.
func detectSIMDLegacy() legacyKernels {
	if !cpu.X86.HasAVX2 {
		return legacyKernels{}
	}
	k := legacyKernels{
		q40: quantizeQ4_0AVX2, q50: quantizeQ5_0AVX2, q41: quantizeQ4_1AVX2, q51: quantizeQ5_1AVX2, q80: quantizeQ8_0AVX2,
		f16: encodeF16AVX2, bf16: encodeBF16AVX2,
		requant: true, squares: true,
	}
	if hasAVX512 {
		k.f16, k.bf16 = encodeF16AVX512, encodeBF16AVX512
	}
	return k
}

// hasAVX512 reports whether the CPU and the OS support the AVX-512
// subsets the AVX-512 kernels use (F, BW, DQ).
var hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ

// floatEncoders are the SIMD F32→F16 (f16) or F32→BF16 kernels this
// machine can run, by name; the tests check each of them, not only the one
// chosen.
func floatEncoders(f16 bool) map[string]func(src []float32, dst []byte) {
	k := map[string]func(src []float32, dst []byte){}
	if cpu.X86.HasAVX2 {
		k["avx2"] = encodeBF16AVX2
		if f16 {
			k["avx2"] = encodeF16AVX2
		}
	}
	if hasAVX512 {
		k["avx512"] = encodeBF16AVX512
		if f16 {
			k["avx512"] = encodeF16AVX512
		}
	}
	return k
}

// requantSIMD runs requantizeGroups' AVX2 kernel, called directly (not
// through a function value) so that its arrays stay on the caller's stack.
func requantSIMD[T int8 | uint8](x *[256]float32, sd, dm *[16]float32, bounds *[16]int32, bias int32, L *[256]T) bool {
	switch L := any(L).(type) {
	case *[256]uint8:
		requantU8AVX2(x, sd, dm, bounds, bias, L)
	case *[256]int8:
		requantI8AVX2(x, sd, dm, bounds, bias, L)
	}
	return true
}

// squaresSIMD runs qxLanes.loadAllSquares' AVX2 kernel (called directly,
// as requantSIMD).
func squaresSIMD(x, tx, w, wx *[256]float32, mx *[16]float32) bool {
	squaresLanesAVX2(x, tx, w, wx, mx)
	return true
}

// simdGridLanes reports whether the CPU and the OS support the AVX2
// kernels of the grid quantizers.
var simdGridLanes = cpu.X86.HasAVX2

// neighbourLanes4 and neighbourLanes8 run the AVX2 neighbour searches
// (called directly, as requantSIMD, so that the arrays stay on the
// caller's stack).
func neighbourLanes4(v *[8]float32, x, w *[4]float32, levels []uint8, n int) int {
	return bestNeighbour4AVX2(v, x, w, levels, n)
}

// gridRound4Lanes runs the AVX2 rounding of roundGroups4 for a whole
// block (called directly, as requantSIMD).
func gridRound4Lanes(x *[32]float32, id float32, levels *[32]int8, codes *[8]int32) {
	gridRound4AVX2(x, id, levels, codes)
}

// gridRound8Lanes runs the AVX2 rounding of roundGroups8 for len(x)/8
// groups.
func gridRound8Lanes(x []float32, id float32, levels []int8, codes []int32) {
	gridRound8AVX2(x, id, levels, codes)
}

// iq1ScanLanes runs the AVX2 skip test of iq1sSplit.
func iq1ScanLanes(tab *[6][40]float32, s *[8]float32, b0 int) int {
	return iq1ScanAVX2(tab, s, b0)
}

func neighbourLanes8(v *[8]float32, x, w *[8]float32, levels []uint8, n int) int {
	return bestNeighbour8AVX2(v, x, w, levels, n)
}

// mxfp4CodesLanes runs the AVX2 code search of an MXFP4 block whose scale
// is a normal power of two (called directly, as requantSIMD).
func mxfp4CodesLanes(x *[32]float32, inv2 float32, codes *[16]byte) {
	mxfp4CodesAVX2(x, inv2, codes)
}

// ternaryTritsLanes runs the AVX2 rounding of ternaryTrits (called
// directly, as requantSIMD).
func ternaryTritsLanes(x *[256]float32, id float32, t *[256]uint8) {
	ternaryTritsAVX2(x, id, t)
}
