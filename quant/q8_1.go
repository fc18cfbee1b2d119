package quant

import "encoding/binary"

// Q8_1 block (36 bytes): d, s float16, qs [32]int8, with s = d*Σqs. ggml
// uses it only for activations, as the partner of Q4_1 and Q5_1 in their
// dot products, so it is not a registered storage type.
const (
	qk8_1        = 32
	blockQ8_1Len = 36
)

// quantizeQ8_1 follows quantize_row_q8_1_ref: codes exactly as Q8_0, plus
// the float16 of d times the code sum. len(src) must be a multiple of 32
// and len(dst) at least len(src)/32*36.
func quantizeQ8_1(src []float32, dst []byte) {
	nb := len(src) / qk8_1
	for i := range nb {
		x := src[i*qk8_1:][:qk8_1]
		b := dst[i*blockQ8_1Len:][:blockQ8_1Len]

		d, id := q8Scale(absMax(x))
		qs := b[4:][:qk8_1]
		var sum int32
		for j, v := range x {
			q := int8(roundAway(v * id))
			qs[j] = byte(q)
			sum += int32(q)
		}
		binary.LittleEndian.PutUint16(b, F32ToF16(d))
		binary.LittleEndian.PutUint16(b[2:], F32ToF16(float32(sum)*d))
	}
}
