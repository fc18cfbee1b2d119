package quant

import (
	"math"

	"github.com/mxq-dev/mxq/ggml"
)

// MXFP4 block (17 bytes, 32 values): e (E8M0 shared exponent), qs[16] with
// 4-bit E2M1 codes, element j in the low nibble of byte j and element j+16
// in the high one. ggml keeps the E2M1 values doubled (mxfp4Levels) and
// halves the exponent to match: x = level[q]·2^(e-128).
const blockMXFP4Len = 17

// mxfp4Levels is kvalues_mxfp4: twice the E2M1 values, sign in bit 3.
var mxfp4Levels = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

func init() {
	// ggml's quantize_mxfp4 ignores importance weights.
	register(ggml.MXFP4, kernel{quantize: quantizeMXFP4, dequantize: dequantizeMXFP4})
}

// e8m0Half is GGML_E8M0_TO_FP32_HALF: 2^(e-128), the two smallest as
// subnormals.
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// mxfp4Exponent is quantize_row_mxfp4_ref's shared exponent: floor(log2f
// of the largest magnitude) - 2 + 127, so that the largest value lands in
// the top two binades of the doubled E2M1 range. log2f is taken as the
// float64 logarithm rounded to float32, which is log2f's correctly rounded
// result; the cast to uint8 keeps the low byte of the integer, as the x86
// conversion does for the (out of range) exponents of subnormal blocks.
func mxfp4Exponent(amax float32) uint8 {
	if !(amax > 0) {
		return 0
	}
	l := float32(math.Log2(float64(amax)))
	return uint8(int32(float32(float32(math.Floor(float64(l)))-2) + 127))
}

// quantizeMXFP4 follows quantize_row_mxfp4_ref: each value takes the code
// whose scaled level is nearest, the first (lowest code) on ties.
func quantizeMXFP4(src []float32, dst []byte) {
	var scaled [16]float32
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32:][:32]
		b := dst[i*blockMXFP4Len:][:blockMXFP4Len]
		var amax float32
		for _, v := range x {
			if a := abs32(v); amax < a {
				amax = a
			}
		}
		e := mxfp4Exponent(amax)
		d := e8m0Half(e)
		b[0] = e
		for k, l := range mxfp4Levels {
			scaled[k] = float32(l) * d
		}
		lo, hi := x[:16], x[16:32]
		for j := range 16 {
			b[1+j] = mxfp4Code(&scaled, lo[j]) | mxfp4Code(&scaled, hi[j])<<4
		}
	}
}

// mxfp4Code is best_index_mxfp4 with the scaled levels precomputed.
func mxfp4Code(scaled *[16]float32, x float32) uint8 {
	best := 0
	bestErr := abs32(scaled[0] - x)
	for k := 1; k < 16; k++ {
		if e := abs32(scaled[k] - x); e < bestErr {
			best, bestErr = k, e
		}
	}
	return uint8(best)
}

func dequantizeMXFP4(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*blockMXFP4Len:][:blockMXFP4Len]
		d := e8m0Half(b[0])
		lo, hi := dst[i*32:][:16], dst[i*32+16:][:16]
		for j, q := range b[1:17] {
			lo[j] = float32(mxfp4Levels[q&0xf]) * d
			hi[j] = float32(mxfp4Levels[q>>4]) * d
		}
	}
}
