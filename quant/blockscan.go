package quant

import "math"

// Block scans shared by the quantizers. Each returns exactly what
// ggml's C loop computes, including its treatment of NaN, infinities and
// signed zeros, but finds it with branch-free integer compares: the bit
// patterns of non-negative floats order like their values. Blocks where
// the shortcut could disagree with C are rare (NaN, Inf, a zero extreme)
// and replay the C loop instead.

// absMax is max|x| as quantize_row_q8_0_ref's MAX(amax, fabsf(v)) loop
// computes it.
func absMax(x []float32) float32 {
	var m uint32
	for _, v := range x {
		m = max(m, math.Float32bits(v)&0x7fffffff)
	}
	if m <= 0x7f800000 {
		return math.Float32frombits(m)
	}
	// A NaN: C's MAX lets it through only when it comes last.
	return cAbsMax(x)
}

// signedAbsMax is the signed element of largest magnitude, the first on
// ties, as quantize_row_q4_0_ref's `if (amax < fabsf(v))` loop picks it;
// +0 for a block of zeros.
func signedAbsMax(x []float32) float32 {
	var m uint32
	for _, v := range x {
		m = max(m, math.Float32bits(v)&0x7fffffff)
	}
	if m == 0 {
		return 0
	}
	if m <= 0x7f800000 {
		for _, v := range x {
			if math.Float32bits(v)&0x7fffffff == m {
				return v
			}
		}
	}
	// A NaN, which C never picks.
	return cSignedAbsMax(x)
}

// orderedKey maps float bits to an int32 that orders like the float
// (with -0 below +0); it is its own inverse.
func orderedKey(b uint32) int32 { return int32(b) ^ (int32(b) >> 31 & 0x7fffffff) }

// minMax is the block's minimum and maximum as quantize_row_q4_1_ref's
// loop finds them, starting from FLT_MAX and -FLT_MAX.
func minMax(x []float32) (vmin, vmax float32) {
	kmin, kmax := int32(math.MaxInt32), int32(math.MinInt32)
	for _, v := range x {
		k := orderedKey(math.Float32bits(v))
		kmin = min(kmin, k)
		kmax = max(kmax, k)
	}
	// Keys cannot tell C's choice between -0 and +0 (the first seen wins)
	// or see FLT_MAX survive an all-Inf block; NaNs sort to the ends.
	lo, hi := uint32(orderedKey(uint32(kmin))), uint32(orderedKey(uint32(kmax)))
	if lo&0x7fffffff != 0 && hi&0x7fffffff != 0 && lo&0x7f800000 != 0x7f800000 && hi&0x7f800000 != 0x7f800000 {
		return math.Float32frombits(lo), math.Float32frombits(hi)
	}
	return cMinMax(x)
}

// The C loops themselves, for the blocks the scans above hand back to
// them; the tests hold the scans to these on any input.

func cAbsMax(x []float32) float32 {
	var amax float32
	for _, v := range x {
		if a := abs32(v); !(amax > a) { // MAX(amax, fabsf(v))
			amax = a
		}
	}
	return amax
}

func cSignedAbsMax(x []float32) float32 {
	var amax, vmax float32
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, vmax = a, v
		}
	}
	return vmax
}

func cMinMax(x []float32) (vmin, vmax float32) {
	vmin, vmax = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < vmin {
			vmin = v
		}
		if v > vmax {
			vmax = v
		}
	}
	return vmin, vmax
}
