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
// the top two binades of the doubled E2M1 range. The cast to uint8 keeps
// the low byte of the integer, as the x86 conversion does for the (out of
// range) exponents of blocks below 2^-125.
//
// floor(log2f(a)) is a's binary exponent unless log2f rounds up to the
// next integer, which needs a mantissa within 2^-10 of 2; those, and the
// subnormals, take log2f itself, as the float64 logarithm rounded to
// float32: the correctly rounded log2f (a libm log2f an ulp off could
// disagree on a few mantissas next to 2).
func mxfp4Exponent(amax float32) uint8 {
	if !(amax > 0) {
		return 0
	}
	var floorLog float32
	b := math.Float32bits(amax)
	if exp := int32(b >> 23 & 0xff); exp != 0 && b&0x7fffff < 0x7fe000 {
		floorLog = float32(exp - 127)
	} else {
		floorLog = float32(math.Floor(float64(float32(math.Log2(float64(amax))))))
	}
	return uint8(int32(floorLog - 2 + 127))
}

// quantizeMXFP4 follows quantize_row_mxfp4_ref: each value takes the code
// whose scaled level is nearest, the first (lowest code) on ties.
func quantizeMXFP4(src []float32, dst []byte) {
	var scaled [16]float32
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32:][:32]
		b := dst[i*blockMXFP4Len:][:blockMXFP4Len]
		e := mxfp4Exponent(mxfp4AbsMax(x))
		d := e8m0Half(e)
		b[0] = e
		lo, hi := x[:16], x[16:32]
		if e >= 2 && e <= 252 {
			// d and 1/d are normal powers of two and 12·d is finite.
			inv2 := 2 / d
			if useGridLanes {
				mxfp4CodesLanes((*[32]float32)(x), inv2, (*[16]byte)(b[1:]))
				continue
			}
			for j := range 16 {
				b[1+j] = mxfp4Nearest(lo[j], inv2) | mxfp4Nearest(hi[j], inv2)<<4
			}
			continue
		}
		for k, l := range mxfp4Levels {
			scaled[k] = float32(l) * d
		}
		for j := range 16 {
			b[1+j] = mxfp4Code(&scaled, lo[j]) | mxfp4Code(&scaled, hi[j])<<4
		}
	}
}

// mxfp4AbsMax is quantize_row_mxfp4_ref's `if (amax < fabsf(v))` scan,
// which skips NaNs: the bit patterns of magnitudes order like their values.
func mxfp4AbsMax(x []float32) float32 {
	if m := maxMagnitudeBits(x); m <= 0x7f800000 {
		return math.Float32frombits(m)
	}
	var amax float32
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax = a
		}
	}
	return amax
}

// mxfp4Below[n] counts the midpoints between neighbouring magnitudes of
// mxfp4Levels (0, 1, 2, 3, 4, 6, 8, 12), doubled to the integers 1, 3, 5,
// 7, 10, 14, 20, that lie below n; mxfp4At[n] is 1 where n is one of them.
// Index 32 stands for a NaN, which takes code 0.
var mxfp4Below, mxfp4At [33]uint8

func init() {
	for _, m := range [...]int{1, 3, 5, 7, 10, 14, 20} {
		for n := m + 1; n < 32; n++ {
			mxfp4Below[n]++
		}
		mxfp4At[m] = 1
	}
}

// mxfp4Nearest is best_index_mxfp4 for a block whose scale d = 2/inv2 is a
// normal power of two with 12·d finite, and |x| < 16·d as the shared
// exponent guarantees. Then 2|x|·inv is exact, and so is every distance
// ggml compares near a midpoint (the two levels are within a factor of two
// of |x|, Sterbenz), so the nearest magnitude follows from the midpoints
// below 2|x|/d, the lower magnitude on an exact tie as in ggml's
// first-minimum search. A negative value takes the negative code of its
// magnitude (code 0, not 8, for zero).
func mxfp4Nearest(x, inv2 float32) uint8 {
	f := abs32(x) * inv2
	n := min(uint32(int32(f)), 32)
	k := mxfp4Below[n]
	if f != float32(n) {
		k += mxfp4At[n]
	}
	zero := uint8((int32(k) - 1) >> 31) // 0xff for k = 0
	return k | uint8(math.Float32bits(x)>>28)&8&^zero
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
