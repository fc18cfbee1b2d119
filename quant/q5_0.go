package quant

import (
	"encoding/binary"

	"github.com/mxq-dev/mxq/ggml"
)

// Q5_0 block (22 bytes): d float16, qh uint32 (bit j = bit 4 of element
// j), qs [16]byte holding the low 4 bits laid out as Q4_0; x = (q-16)*d.
const (
	qk5_0        = 32
	blockQ5_0Len = 22
)

func init() {
	register(ggml.Q5_0, kernel{
		quantize:         quantizeQ5_0,
		dequantize:       dequantizeQ5_0,
		quantizeWeighted: quantizeQ5_0Weighted,
	})
}

// quantizeQ5_0 follows quantize_row_q5_0_ref: d = max/-16 with max the
// signed element of largest magnitude.
func quantizeQ5_0(src []float32, dst []byte) {
	if k := legacy.q50; k != nil {
		quantizeLegacySIMD(src, dst, blockQ5_0Len, false, k, quantizeQ5_0Go)
		return
	}
	quantizeQ5_0Go(src, dst)
}

func quantizeQ5_0Go(src []float32, dst []byte) {
	nb := len(src) / qk5_0
	for i := range nb {
		x := src[i*qk5_0:][:qk5_0]
		b := dst[i*blockQ5_0Len:][:blockQ5_0Len]

		d := signedAbsMax(x) / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(b, F32ToF16(d))

		lo, hi := x[:16], x[16:32]
		qs := b[6:][:16]
		var qh uint32
		for j := range qs {
			q0 := uint8(min(31, int8(int32(float32(lo[j]*id)+16.5))))
			q1 := uint8(min(31, int8(int32(float32(hi[j]*id)+16.5))))
			qs[j] = q0&15 | (q1&15)<<4
			qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
		}
		binary.LittleEndian.PutUint32(b[2:], qh)
	}
}

func dequantizeQ5_0(src []byte, dst []float32) {
	nb := len(dst) / qk5_0
	for i := range nb {
		b := src[i*blockQ5_0Len:][:blockQ5_0Len]
		y := dst[i*qk5_0:][:qk5_0]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		qh := binary.LittleEndian.Uint32(b[2:])
		lo, hi := y[:16], y[16:32]
		for j, q := range b[6:][:16] {
			h0 := int32(qh>>j<<4) & 0x10
			h1 := int32(qh>>(j+12)) & 0x10
			lo[j] = float32((int32(q&15)|h0)-16) * d
			hi[j] = float32((int32(q>>4)|h1)-16) * d
		}
	}
}

// quantizeQ5_0Weighted is quantize_row_q5_0_impl with importance weights:
// quantizeQ4_0Weighted's fit with 5-bit codes.
func quantizeQ5_0Weighted(src []float32, dst []byte, qw []float32) {
	if lanes.qkx2Sums != nil {
		quantizeLegacyWeightedLanes(src, dst, qw, blockQ5_0Len, 16, false, func(b []byte, L *[32]uint8) { packQ5Codes(b[2:6], b[6:22], L) })
		return
	}
	sigma2 := sumSquares(src) / float32(len(src))
	var w [qk5_0]float32
	var L [qk5_0]int8
	for i := range len(src) / qk5_0 {
		x := src[i*qk5_0:][:qk5_0]
		b := dst[i*blockQ5_0Len:][:blockQ5_0Len]
		importanceWeights(w[:], x, qw[i*qk5_0:], sigma2)
		putHalf(b, makeQXWeighted(16, x, w[:], L[:]))
		packQ5Codes(b[2:6], b[6:22], &L)
	}
}

// packQ5Codes stores 32 5-bit codes as Q5_0 and Q5_1 lay them out: the low
// nibbles in qs as packNibbles32 does, bit 4 of code j in bit j of the
// little-endian uint32 qh.
func packQ5Codes[T int8 | uint8](qh, qs []byte, L *[32]T) {
	packNibbles32(qs, L)
	var h uint32
	for j, l := range L {
		h |= uint32(uint8(l)>>4&1) << j
	}
	binary.LittleEndian.PutUint32(qh, h)
}
