package quant

import (
	"encoding/binary"
	"math"
)

// Q8_K is the activation format the K-quant dot products pair with:
// 292-byte blocks of 256 values, d:f32, qs[256]:int8, bsums[16]:int16 (sums
// of each 16 quants). It is not a storage type, so it is not registered as
// a kernel; it only backs VecDot.

const q8KSize = 292

// blockQ8K is one decoded Q8_K block.
type blockQ8K struct {
	d     float32
	qs    [256]int8
	bsums [16]int16
}

// quantizeBlockQ8K is quantize_row_q8_K_ref for one block: the element of
// largest magnitude maps to -127 (its sign flipped by the negative scale),
// other values round half to even.
func quantizeBlockQ8K(x *[256]float32, y *blockQ8K) {
	var max, amax float32
	for _, v := range x {
		if av := abs32(v); av > amax {
			amax = av
			max = v
		}
	}
	if amax == 0 {
		*y = blockQ8K{}
		return
	}
	iscale := -127 / max
	for j, v := range x {
		y.qs[j] = int8(min(127, nearestInt(float32(iscale*v))))
	}
	for j := range 16 {
		var sum int32
		for _, q := range y.qs[16*j : 16*j+16] {
			sum += int32(q)
		}
		y.bsums[j] = int16(sum)
	}
	y.d = 1 / iscale
}

// quantizeQ8K encodes whole blocks of src as Q8_K bytes.
func quantizeQ8K(src []float32, dst []byte) {
	var blk blockQ8K
	for i := 0; i < len(src)/256; i++ {
		quantizeBlockQ8K((*[256]float32)(src[i*256:]), &blk)
		b := dst[i*q8KSize : (i+1)*q8KSize]
		binary.LittleEndian.PutUint32(b, math.Float32bits(blk.d))
		for j, q := range blk.qs {
			b[4+j] = byte(q)
		}
		for j, s := range blk.bsums {
			binary.LittleEndian.PutUint16(b[260+2*j:], uint16(s))
		}
	}
}

// dequantizeQ8K is dequantize_row_q8_K: d·q.
func dequantizeQ8K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*q8KSize : (i+1)*q8KSize]
		d := math.Float32frombits(binary.LittleEndian.Uint32(b))
		for j := range 256 {
			dst[i*256+j] = d * float32(int8(b[4+j]))
		}
	}
}
