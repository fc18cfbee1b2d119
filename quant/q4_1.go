package quant

import (
	"encoding/binary"

	"github.com/mxq-dev/mxq/ggml"
)

// Q4_1 block (20 bytes): d, m float16, qs [16]byte laid out as Q4_0;
// x = q*d + m.
const (
	qk4_1        = 32
	blockQ4_1Len = 20
)

func init() {
	register(ggml.Q4_1, kernel{
		quantize:         quantizeQ4_1,
		dequantize:       dequantizeQ4_1,
		quantizeWeighted: quantizeQ4_1Weighted,
	})
}

// quantizeQ4_1 follows quantize_row_q4_1_ref: d = (max-min)/15 and the
// codes are measured from the float32 min, not its float16 rounding.
func quantizeQ4_1(src []float32, dst []byte) {
	if k := legacy.q41; k != nil {
		quantizeLegacySIMD(src, dst, blockQ4_1Len, true, k, quantizeQ4_1Go)
		return
	}
	quantizeQ4_1Go(src, dst)
}

func quantizeQ4_1Go(src []float32, dst []byte) {
	nb := len(src) / qk4_1
	for i := range nb {
		x := src[i*qk4_1:][:qk4_1]
		b := dst[i*blockQ4_1Len:][:blockQ4_1Len]

		vmin, vmax := minMax(x)
		id := putScaleMin(b, vmin, vmax, 15)

		lo, hi := x[:16], x[16:32]
		qs := b[4:][:16]
		for j := range qs {
			q0 := int8(int32(float32((lo[j]-vmin)*id) + 0.5))
			q1 := int8(int32(float32((hi[j]-vmin)*id) + 0.5))
			qs[j] = uint8(min(15, q0)) | uint8(min(15, q1))<<4
		}
	}
}

// putScaleMin is the start of quantize_row_q4_1_ref and _q5_1_ref once
// the block's min and max are known: it stores d = (max-min)/nmax and min
// as float16 at the head of block b and returns 1/d (0 when d is 0).
func putScaleMin(b []byte, vmin, vmax, nmax float32) (id float32) {
	d := (vmax - vmin) / nmax
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(b, F32ToF16(d))
	binary.LittleEndian.PutUint16(b[2:], F32ToF16(vmin))
	return id
}

func dequantizeQ4_1(src []byte, dst []float32) {
	nb := len(dst) / qk4_1
	for i := range nb {
		b := src[i*blockQ4_1Len:][:blockQ4_1Len]
		y := dst[i*qk4_1:][:qk4_1]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		m := F16ToF32(binary.LittleEndian.Uint16(b[2:]))
		lo, hi := y[:16], y[16:32]
		for j, q := range b[4:][:16] {
			lo[j] = float32(float32(q&15)*d) + m
			hi[j] = float32(float32(q>>4)*d) + m
		}
	}
}

// quantizeQ4_1Weighted is quantize_row_q4_1_impl with importance weights
// qw: each block is fitted by make_qkx3_quants (the weighted least-squares
// fit of makeQKX2 over 37 grid spacings), weighting value j by
// qw[j]·√(σ² + x[j]²) with σ² the row's mean square.
func quantizeQ4_1Weighted(src []float32, dst []byte, qw []float32) {
	if lanes.qkx2Sums != nil {
		quantizeLegacyWeightedLanes(src, dst, qw, blockQ4_1Len, 15, true, func(b []byte, L *[32]uint8) { packNibbles32(b[4:20], L) })
		return
	}
	sigma2 := sumSquares(src) / float32(len(src))
	var w [qk4_1]float32
	var L, laux [qk4_1]uint8
	for i := range len(src) / qk4_1 {
		x := src[i*qk4_1:][:qk4_1]
		b := dst[i*blockQ4_1Len:][:blockQ4_1Len]
		importanceWeights(w[:], x, qw[i*qk4_1:], sigma2)
		d, negMin := makeQKX2(15, x, w[:], L[:], laux[:], -0.9, 0.05, 36, false)
		putHalf(b, d)
		putHalf(b[2:], -negMin)
		packNibbles32(b[4:20], &L)
	}
}
