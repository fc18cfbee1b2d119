package quant

import (
	"encoding/binary"
	"math"

	"github.com/mxq-dev/mxq/ggml"
)

// Q8_0 block (34 bytes): d float16, qs [32]int8; x = qs*d.
const (
	qk8_0        = 32
	blockQ8_0Len = 34
)

func init() {
	register(ggml.Q8_0, kernel{quantize: quantizeQ8_0, dequantize: dequantizeQ8_0})
}

// roundAway is C's roundf (halves away from zero) for the |v| <= 2^23 seen
// here. Adding ±0.5 in float64 is exact for every float32 that could
// round up, so truncation gives the correctly rounded integer.
func roundAway(v float32) int32 {
	f := float64(v)
	return int32(f + math.Copysign(0.5, f))
}

// q8Scale returns d = amax/127 and 1/d (0 when d is 0), the scale and
// multiplier of quantize_row_q8_0_ref and _q8_1_ref.
func q8Scale(amax float32) (d, id float32) {
	d = amax / 127
	if d != 0 {
		id = 1 / d
	}
	return d, id
}

// quantizeQ8_0 follows quantize_row_q8_0_ref: d = amax/127, and the
// multiplier comes from the float32 d, not from its float16 rounding.
func quantizeQ8_0(src []float32, dst []byte) {
	if k := legacy.q80; k != nil {
		quantizeLegacySIMD(src, dst, blockQ8_0Len, false, k, quantizeQ8_0Go)
		return
	}
	quantizeQ8_0Go(src, dst)
}

func quantizeQ8_0Go(src []float32, dst []byte) {
	nb := len(src) / qk8_0
	for i := range nb {
		x := src[i*qk8_0:][:qk8_0]
		b := dst[i*blockQ8_0Len:][:blockQ8_0Len]

		d, id := q8Scale(absMax(x))
		binary.LittleEndian.PutUint16(b, F32ToF16(d))
		qs := b[2:][:qk8_0]
		for j, v := range x {
			qs[j] = byte(roundAway(v * id))
		}
	}
}

func dequantizeQ8_0(src []byte, dst []float32) {
	if decoders.q8_0 != nil {
		decoders.q8_0(whole(src, len(dst)/qk8_0*blockQ8_0Len), dst)
		return
	}
	nb := len(dst) / qk8_0
	for i := range nb {
		b := src[i*blockQ8_0Len:][:blockQ8_0Len]
		y := dst[i*qk8_0:][:qk8_0]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		qs := b[2:][:qk8_0]
		for j, q := range qs {
			y[j] = float32(int8(q)) * d
		}
	}
}
