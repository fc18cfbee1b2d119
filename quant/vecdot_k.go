package quant

// Dot products of the K-quants with Q8_K activations, following
// ggml_vec_dot_q{2..6}_K_q8_K_generic. The integer parts are exact, so only
// the float32 steps need the C order: Q3_K..Q6_K keep eight per-lane
// float sums across blocks (lane l collects elements ≡ l mod 8) and add
// them up at the end; Q2_K accumulates one sum per block.

func vecDotQ2K(w []byte, x []float32) float32 {
	var a blockQ8K
	var sumf float32
	for i := 0; i < len(x)/256; i++ {
		quantizeBlockQ8K((*[256]float32)(x[i*256:]), &a)
		b := w[i*q2KSize : (i+1)*q2KSize]
		sc := b[0:16]
		var summs int32
		for j := range 16 {
			summs += int32(a.bsums[j]) * int32(sc[j]>>4)
		}
		dall := float32(a.d * getHalf(b[80:]))
		dmin := float32(a.d * getHalf(b[82:]))
		var isum int32
		is := 0
		for n := 0; n < 256; n += 128 {
			q2 := b[16+n/4 : 16+n/4+32]
			q8 := a.qs[n : n+128]
			for shift := uint(0); shift < 8; shift += 2 {
				for half := 0; half < 2; half++ {
					var s int32
					for l := 16 * half; l < 16*half+16; l++ {
						s += int32(q8[l]) * int32((q2[l]>>shift)&3)
					}
					isum += int32(sc[is]&0xF) * s
					is++
				}
				q8 = q8[32:]
			}
		}
		sumf += float32(dall*float32(isum)) - float32(dmin*float32(summs))
	}
	return sumf
}

// laneSums adds d·aux[l] to sums[l], as the generic kernels do per block.
func laneSums(sums *[8]float32, d float32, aux *[8]int32) {
	for l := range sums {
		sums[l] += float32(d * float32(aux[l]))
	}
}

func totalLanes(sumf float32, sums *[8]float32) float32 {
	for _, s := range sums {
		sumf += s
	}
	return sumf
}

func vecDotQ3K(w []byte, x []float32) float32 {
	var a blockQ8K
	var sums [8]float32
	for i := 0; i < len(x)/256; i++ {
		quantizeBlockQ8K((*[256]float32)(x[i*256:]), &a)
		b := w[i*q3KSize : (i+1)*q3KSize]
		hm := b[0:32]
		var q [256]int8
		for n, m := 0, uint8(1); n < 256; n += 128 {
			q3 := b[32+n/4 : 32+n/4+32]
			for shift := uint(0); shift < 8; shift += 2 {
				for l := range 32 {
					v := int8((q3[l] >> shift) & 3)
					if hm[l]&m == 0 {
						v -= 4
					}
					q[n+int(shift)*16+l] = v
				}
				m <<= 1
			}
		}
		var aux [8]int32
		for j := range 16 {
			s := int32(q3Scale(b[96:108], j))
			for l := range 8 {
				aux[l] += s * int32(int16(a.qs[16*j+l])*int16(q[16*j+l]))
				aux[l] += s * int32(int16(a.qs[16*j+8+l])*int16(q[16*j+8+l]))
			}
		}
		laneSums(&sums, getHalf(b[108:])*a.d, &aux)
	}
	return totalLanes(0, &sums)
}

// dotQ45K is the shared part of the Q4_K and Q5_K dot products once the
// block's quants are unpacked into q (0..31).
func dotQ45K(sums *[8]float32, sumf float32, b []byte, q *[256]int8, a *blockQ8K) float32 {
	var sc, mn [8]uint8
	for j := range 8 {
		sc[j], mn[j] = getScaleMinK4(j, b[4:16])
	}
	var sumi int32
	for j := range 16 {
		sumi += int32(a.bsums[j]) * int32(mn[j/2])
	}
	var aux [8]int32
	for j := range 8 {
		s := int32(sc[j])
		for c := range 4 {
			o := 32*j + 8*c
			for l := range 8 {
				aux[l] += s * int32(int16(a.qs[o+l])*int16(q[o+l]))
			}
		}
	}
	laneSums(sums, getHalf(b[0:])*a.d, &aux)
	dmin := float32(getHalf(b[2:]) * a.d)
	return sumf - float32(dmin*float32(sumi))
}

func vecDotQ4K(w []byte, x []float32) float32 {
	var a blockQ8K
	var sums [8]float32
	var sumf float32
	for i := 0; i < len(x)/256; i++ {
		quantizeBlockQ8K((*[256]float32)(x[i*256:]), &a)
		b := w[i*q4KSize : (i+1)*q4KSize]
		var q [256]int8
		for j := range 4 {
			qs := b[16+32*j : 16+32*j+32]
			for l, v := range qs {
				q[64*j+l] = int8(v & 0xF)
				q[64*j+32+l] = int8(v >> 4)
			}
		}
		sumf = dotQ45K(&sums, sumf, b, &q, &a)
	}
	return totalLanes(sumf, &sums)
}

func vecDotQ5K(w []byte, x []float32) float32 {
	var a blockQ8K
	var sums [8]float32
	var sumf float32
	for i := 0; i < len(x)/256; i++ {
		quantizeBlockQ8K((*[256]float32)(x[i*256:]), &a)
		b := w[i*q5KSize : (i+1)*q5KSize]
		qh := b[16:48]
		var q [256]int8
		for j := range 4 {
			qs := b[48+32*j : 48+32*j+32]
			m1, m2 := uint8(1)<<(2*j), uint8(2)<<(2*j)
			for l, v := range qs {
				lo, hi := int8(v&0xF), int8(v>>4)
				if qh[l]&m1 != 0 {
					lo += 16
				}
				if qh[l]&m2 != 0 {
					hi += 16
				}
				q[64*j+l] = lo
				q[64*j+32+l] = hi
			}
		}
		sumf = dotQ45K(&sums, sumf, b, &q, &a)
	}
	return totalLanes(sumf, &sums)
}

func vecDotQ6K(w []byte, x []float32) float32 {
	var a blockQ8K
	var sums [8]float32
	for i := 0; i < len(x)/256; i++ {
		quantizeBlockQ8K((*[256]float32)(x[i*256:]), &a)
		b := w[i*q6KSize : (i+1)*q6KSize]
		var q [256]int8
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 128+32*n+32]
			o := 128 * n
			for l := range 32 {
				q[o+l] = int8(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
				q[o+l+32] = int8(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
				q[o+l+64] = int8(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q[o+l+96] = int8(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			}
		}
		sc := b[192:208]
		var aux [8]int32
		for j := range 16 {
			s := int32(int8(sc[j]))
			for l := range 8 {
				aux[l] += s * int32(int16(a.qs[16*j+l])*int16(q[16*j+l]))
				aux[l] += s * int32(int16(a.qs[16*j+8+l])*int16(q[16*j+8+l]))
			}
		}
		laneSums(&sums, getHalf(b[208:])*a.d, &aux)
	}
	return totalLanes(0, &sums)
}
