package quant

import (
	"math"

	"github.com/mxq-dev/mxq/ggml"
)

// The ternary types (BitNet b1.58, TriLM) store trits t ∈ {0,1,2} for
// x = (t-1)·d with d = max|x| of the 256-value block.
//
// TQ1_0 block (54 bytes): qs[48], qh[4], d f16. Five trits per byte as a
// base-3 fraction scaled to 0..255 (rounded up, so that multiplying by 3^n
// and keeping the top bits of ×3 reads trit n): qs[0:32] hold values
// m+32n of the first 160, qs[32:48] values 160+m+16n, and qh[0:4] four
// trits each of the last 16, values 240+j+4n, in the top four trit places.
//
// TQ2_0 block (66 bytes): qs[64], d f16. Two bits per trit; in each half of
// 128 values, byte m holds values m, m+32, m+64, m+96 from the low bits up.
const (
	blockTQ1Len = 54
	blockTQ2Len = 66
)

func init() {
	// ggml's quantize_tq1_0 and quantize_tq2_0 ignore importance weights.
	register(ggml.TQ1_0, kernel{quantize: quantizeTQ1, dequantize: dequantizeTQ1})
	register(ggml.TQ2_0, kernel{quantize: quantizeTQ2, dequantize: dequantizeTQ2})
}

// ternaryScale is the block scale of quantize_row_tq{1,2}_0_ref: d =
// MAX(amax, |x|) over the block, as absMax computes it, and its
// reciprocal, 0 for d = 0.
func ternaryScale(x []float32) (d, id float32) {
	d = absMax(x)
	if d != 0 {
		id = 1 / d
	}
	return d, id
}

// trit is lroundf(x·id)+1: -1, 0, 1 → 0, 1, 2, halves rounded away from
// zero. Finite blocks keep |x·id| ≤ 1 (up to rounding): there the rounded
// magnitude is ⌊|v|+0.5⌋, exact in float64, given the sign of v. Anything
// else (a NaN, or the infinities of a block whose scale underflows) wraps
// as the C integer arithmetic does.
func trit(x, id float32) uint8 {
	v := x * id
	a := abs32(v)
	if a < 1.5 {
		k := int8(float64(a) + 0.5)
		sign := int8(math.Float32bits(v)>>31) * 2 // 0 or 2
		return uint8(1 + k - sign*k)
	}
	return uint8(int64(math.Round(float64(v))) + 1)
}

// packTrits5 is the base-3 fraction byte of five trits, first most
// significant: ⌈q·256/243⌉.
func packTrits5(q uint8) uint8 { return uint8((uint16(q)*256 + 242) / 243) }

func quantizeTQ1(src []float32, dst []byte) {
	for i := 0; i < len(src)/256; i++ {
		x := src[i*256:][:256]
		b := dst[i*blockTQ1Len:][:blockTQ1Len]
		d, id := ternaryScale(x)
		putHalf(b[52:], d)
		for m := range 32 {
			var q uint8
			for n := range 5 {
				q = q*3 + trit(x[m+32*n], id)
			}
			b[m] = packTrits5(q)
		}
		for m := range 16 {
			var q uint8
			for n := range 5 {
				q = q*3 + trit(x[160+m+16*n], id)
			}
			b[32+m] = packTrits5(q)
		}
		for j := range 4 {
			var q uint8
			for n := range 4 {
				q = q*3 + trit(x[240+j+4*n], id)
			}
			b[48+j] = packTrits5(q * 3)
		}
	}
}

// unpackTrit reads trit n (0 = most significant) of a packed byte.
func unpackTrit(q uint8, pow3 uint8) float32 {
	return float32(int32(uint16(q*pow3)*3>>8) - 1)
}

var tritPow3 = [5]uint8{1, 3, 9, 27, 81}

func dequantizeTQ1(src []byte, dst []float32) {
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*blockTQ1Len:][:blockTQ1Len]
		y := dst[i*256:][:256]
		d := getHalf(b[52:])
		for n, p := range tritPow3 {
			for m, q := range b[:32] {
				y[32*n+m] = unpackTrit(q, p) * d
			}
			for m, q := range b[32:48] {
				y[160+16*n+m] = unpackTrit(q, p) * d
			}
		}
		for n, p := range tritPow3[:4] {
			for j, q := range b[48:52] {
				y[240+4*n+j] = unpackTrit(q, p) * d
			}
		}
	}
}

func quantizeTQ2(src []float32, dst []byte) {
	for i := 0; i < len(src)/256; i++ {
		x := src[i*256:][:256]
		b := dst[i*blockTQ2Len:][:blockTQ2Len]
		d, id := ternaryScale(x)
		putHalf(b[64:], d)
		for h := range 2 {
			xh := x[128*h:][:128]
			for m := range 32 {
				var q uint8
				for n := range 4 {
					q |= (trit(xh[m+32*n], id) & 3) << (2 * n)
				}
				b[32*h+m] = q
			}
		}
	}
}

func dequantizeTQ2(src []byte, dst []float32) {
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*blockTQ2Len:][:blockTQ2Len]
		y := dst[i*256:][:256]
		d := getHalf(b[64:])
		for h := range 2 {
			for n := range 4 {
				for m, q := range b[32*h : 32*h+32] {
					y[128*h+32*n+m] = float32(int32(q>>(2*n)&3)-1) * d
				}
			}
		}
	}
}
