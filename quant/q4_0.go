package quant

import (
	"encoding/binary"

	"github.com/mxq-dev/mxq/ggml"
)

// Q4_0 block (18 bytes): d float16, qs [16]byte. Byte j holds element j in
// its low nibble and element j+16 in its high nibble; x = (q-8)*d.
const (
	qk4_0        = 32
	blockQ4_0Len = 18
)

func init() {
	register(ggml.Q4_0, kernel{
		quantize:         quantizeQ4_0,
		dequantize:       dequantizeQ4_0,
		quantizeWeighted: quantizeQ4_0Weighted,
	})
}

// quantizeQ4_0 follows quantize_row_q4_0_ref: d = max/-8 with max the
// signed element of largest magnitude (first one on ties), so that element
// lands exactly on q = 0.
func quantizeQ4_0(src []float32, dst []byte) {
	if k := legacy.q40; k != nil {
		quantizeLegacySIMD(src, dst, blockQ4_0Len, false, k, quantizeQ4_0Go)
		return
	}
	quantizeQ4_0Go(src, dst)
}

func quantizeQ4_0Go(src []float32, dst []byte) {
	nb := len(src) / qk4_0
	for i := range nb {
		x := src[i*qk4_0:][:qk4_0]
		b := dst[i*blockQ4_0Len:][:blockQ4_0Len]

		d := signedAbsMax(x) / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(b, F32ToF16(d))

		lo, hi := x[:16], x[16:32]
		qs := b[2:][:16]
		for j := range qs {
			// The float32() conversions keep Go from fusing the multiply
			// and add, which C (built without contraction) does not do.
			q0 := int8(int32(float32(lo[j]*id) + 8.5))
			q1 := int8(int32(float32(hi[j]*id) + 8.5))
			qs[j] = uint8(min(15, q0)) | uint8(min(15, q1))<<4
		}
	}
}

func dequantizeQ4_0(src []byte, dst []float32) {
	if decoders.q4_0 != nil {
		decoders.q4_0(whole(src, len(dst)/qk4_0*blockQ4_0Len), dst)
		return
	}
	nb := len(dst) / qk4_0
	for i := range nb {
		b := src[i*blockQ4_0Len:][:blockQ4_0Len]
		y := dst[i*qk4_0:][:qk4_0]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		lo, hi := y[:16], y[16:32]
		for j, q := range b[2:][:16] {
			lo[j] = float32(int32(q&15)-8) * d
			hi[j] = float32(int32(q>>4)-8) * d
		}
	}
}

// quantizeQ4_0Weighted is quantize_row_q4_0_impl with importance weights
// qw: each block's scale is the weighted least-squares fit of
// make_qx_quants, weighting value j by qw[j]·√(σ² + x[j]²) with σ² the
// row's mean square.
func quantizeQ4_0Weighted(src []float32, dst []byte, qw []float32) {
	if lanes.qkx2Sums != nil {
		quantizeLegacyWeightedLanes(src, dst, qw, blockQ4_0Len, 8, false, func(b []byte, L *[32]uint8) { packNibbles32(b[2:18], L) })
		return
	}
	sigma2 := sumSquares(src) / float32(len(src))
	var w [qk4_0]float32
	var L [qk4_0]int8
	for i := range len(src) / qk4_0 {
		x := src[i*qk4_0:][:qk4_0]
		b := dst[i*blockQ4_0Len:][:blockQ4_0Len]
		importanceWeights(w[:], x, qw[i*qk4_0:], sigma2)
		putHalf(b, makeQXWeighted(8, x, w[:], L[:]))
		packNibbles32(b[2:18], &L)
	}
}

// packNibbles32 stores 32 4-bit codes as Q4_0 and Q4_1 lay them out: byte
// j holds code j in its low nibble and code j+16 in its high nibble (the
// low 4 bits of each).
func packNibbles32[T int8 | uint8](qs []byte, L *[32]T) {
	qs = qs[:16]
	for j := range qs {
		qs[j] = uint8(L[j])&0xF | uint8(L[j+16])<<4
	}
}
