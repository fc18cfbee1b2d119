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

// ternaryTrits returns the block scale of quantize_row_tq{1,2}_0_ref, d =
// MAX(amax, |x|) over the block, and sets every value's trit lroundf(x·id)+1
// with id = 1/d (0 for d = 0): -1, 0, 1 → 0, 1, 2, halves rounded away
// from zero.
//
// In a block of finite values whose 1/d is finite, |x·id| ≤ 1 up to
// rounding, and adding ±0.5 in float64 (exact) then truncating rounds as
// lroundf does. Other blocks (a NaN, an infinity, or a scale below 2^-128)
// take lroundf itself, wrapping as the C integer arithmetic does.
func ternaryTrits(x *[256]float32, t *[256]uint8) (d float32) {
	m := maxMagnitudeBits(x[:])
	d = math.Float32frombits(m)
	if m > 0x7f800000 {
		d = cAbsMax(x[:]) // a NaN: C's MAX keeps it only when it comes last
	}
	var id float32
	if d != 0 {
		id = 1 / d
	}
	if m < 0x7f800000 && id <= math.MaxFloat32 {
		if useGridLanes {
			ternaryTritsLanes(x, id, t)
			return d
		}
		for i, v := range x {
			f := float64(v * id)
			t[i] = uint8(int32(f+math.Copysign(0.5, f)) + 1)
		}
		return d
	}
	for i, v := range x {
		t[i] = uint8(int64(math.Round(float64(v*id))) + 1)
	}
	return d
}

// maxMagnitudeBits is the largest of the bit patterns of |x| (a NaN's
// above +Inf's), in four independent running maxima so that the loop is
// not one long dependency chain. len(x) is a multiple of 4.
func maxMagnitudeBits(x []float32) uint32 {
	var m0, m1, m2, m3 uint32
	for i := 0; i+3 < len(x); i += 4 {
		m0 = max(m0, math.Float32bits(x[i])&0x7fffffff)
		m1 = max(m1, math.Float32bits(x[i+1])&0x7fffffff)
		m2 = max(m2, math.Float32bits(x[i+2])&0x7fffffff)
		m3 = max(m3, math.Float32bits(x[i+3])&0x7fffffff)
	}
	return max(m0, m1, m2, m3)
}

// packTrits5 is the base-3 fraction byte of five trits, first most
// significant: ⌈q·256/243⌉.
func packTrits5(q uint8) uint8 { return uint8((uint16(q)*256 + 242) / 243) }

func quantizeTQ1(src []float32, dst []byte) {
	var t [256]uint8
	for i := 0; i < len(src)/256; i++ {
		b := dst[i*blockTQ1Len:][:blockTQ1Len]
		putHalf(b[52:], ternaryTrits((*[256]float32)(src[i*256:]), &t))
		// Five trits per byte, the first most significant: bytes 0..31
		// take values m+32n of the first 160, bytes 32..47 values
		// 160+m+16n, and the last four bytes four trits each of the last
		// 16, values 240+j+4n.
		for m := range 32 {
			b[m] = packTrits5(t[m]*81 + t[32+m]*27 + t[64+m]*9 + t[96+m]*3 + t[128+m])
		}
		for m := range 16 {
			b[32+m] = packTrits5(t[160+m]*81 + t[176+m]*27 + t[192+m]*9 + t[208+m]*3 + t[224+m])
		}
		for j := range 4 {
			b[48+j] = packTrits5((t[240+j]*27 + t[244+j]*9 + t[248+j]*3 + t[252+j]) * 3)
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
	var t [256]uint8
	for i := 0; i < len(src)/256; i++ {
		b := dst[i*blockTQ2Len:][:blockTQ2Len]
		putHalf(b[64:], ternaryTrits((*[256]float32)(src[i*256:]), &t))
		for h := range 2 {
			th := (*[128]uint8)(t[128*h:])
			qs := (*[32]byte)(b[32*h:])
			for m := range 32 {
				qs[m] = th[m]&3 | (th[32+m]&3)<<2 | (th[64+m]&3)<<4 | (th[96+m]&3)<<6
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
