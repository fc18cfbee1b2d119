package quant

// Q8_K is the activation format the K-quant dot products pair with; in
// ggml a block is 292 bytes: d:f32, qs[256]:int8, bsums[16]:int16 (sums of
// each 16 quants). It is not a storage type, so it is not registered as a
// kernel and is kept here in decoded form only, for VecDot.

// blockQ8K is one Q8_K block.
type blockQ8K struct {
	d     float32
	qs    [256]int8
	bsums [16]int16
}

// quantizeBlockQ8K is quantize_row_q8_K_ref for one block: the element of
// largest magnitude maps to -127 (its sign flipped by the negative scale),
// other values round half to even.
func quantizeBlockQ8K(x *[256]float32, y *blockQ8K) {
	vmax := signedAbsMax(x[:])
	if vmax == 0 {
		*y = blockQ8K{}
		return
	}
	iscale := -127 / vmax
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
