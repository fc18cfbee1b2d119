package quant

import (
	"encoding/binary"

	"github.com/mxq-dev/mxq/ggml"
)

// Q5_1 block (24 bytes): d, m float16, qh uint32, qs [16]byte laid out as
// Q5_0; x = q*d + m.
const (
	qk5_1        = 32
	blockQ5_1Len = 24
)

func init() {
	register(ggml.Q5_1, kernel{
		quantize:         quantizeQ5_1,
		dequantize:       dequantizeQ5_1,
		quantizeWeighted: quantizeQ5_1Weighted,
	})
}

// quantizeQ5_1 follows quantize_row_q5_1_ref: d = (max-min)/31, codes from
// the float32 min, and (unlike Q4_1) no clamp on the code.
func quantizeQ5_1(src []float32, dst []byte) {
	if k := legacy.q51; k != nil {
		quantizeLegacySIMD(src, dst, blockQ5_1Len, true, k, quantizeQ5_1Go)
		return
	}
	quantizeQ5_1Go(src, dst)
}

func quantizeQ5_1Go(src []float32, dst []byte) {
	nb := len(src) / qk5_1
	for i := range nb {
		x := src[i*qk5_1:][:qk5_1]
		b := dst[i*blockQ5_1Len:][:blockQ5_1Len]

		vmin, vmax := minMax(x)
		id := putScaleMin(b, vmin, vmax, 31)

		lo, hi := x[:16], x[16:32]
		qs := b[8:][:16]
		var qh uint32
		for j := range qs {
			q0 := uint8(int32(float32((lo[j]-vmin)*id) + 0.5))
			q1 := uint8(int32(float32((hi[j]-vmin)*id) + 0.5))
			qs[j] = q0&15 | (q1&15)<<4
			qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
		}
		binary.LittleEndian.PutUint32(b[4:], qh)
	}
}

func dequantizeQ5_1(src []byte, dst []float32) {
	nb := len(dst) / qk5_1
	for i := range nb {
		b := src[i*blockQ5_1Len:][:blockQ5_1Len]
		y := dst[i*qk5_1:][:qk5_1]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		m := F16ToF32(binary.LittleEndian.Uint16(b[2:]))
		qh := binary.LittleEndian.Uint32(b[4:])
		lo, hi := y[:16], y[16:32]
		for j, q := range b[8:][:16] {
			h0 := uint32(qh>>j<<4) & 0x10
			h1 := uint32(qh>>(j+12)) & 0x10
			lo[j] = float32(float32(uint32(q&15)|h0)*d) + m
			hi[j] = float32(float32(uint32(q>>4)|h1)*d) + m
		}
	}
}

// quantizeQ5_1Weighted is quantize_row_q5_1_impl with importance weights:
// quantizeQ4_1Weighted's fit with 5-bit codes.
func quantizeQ5_1Weighted(src []float32, dst []byte, qw []float32) {
	if lanes.qkx2Sums != nil {
		quantizeLegacyWeightedLanes(src, dst, qw, blockQ5_1Len, 31, true, func(b []byte, L *[32]uint8) { packQ5Codes(b[4:8], b[8:24], L) })
		return
	}
	sigma2 := sumSquares(src) / float32(len(src))
	var w [qk5_1]float32
	var L, laux [qk5_1]uint8
	for i := range len(src) / qk5_1 {
		x := src[i*qk5_1:][:qk5_1]
		b := dst[i*blockQ5_1Len:][:blockQ5_1Len]
		importanceWeights(w[:], x, qw[i*qk5_1:], sigma2)
		d, negMin := makeQKX2(31, x, w[:], L[:], laux[:], -0.9, 0.05, 36, false)
		putHalf(b, d)
		putHalf(b[2:], -negMin)
		packQ5Codes(b[4:8], b[8:24], &L)
	}
}
