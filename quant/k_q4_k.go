package quant

import "github.com/mxq-dev/mxq/ggml"

// Q4_K: 144-byte blocks of 256 values, d:f16, dmin:f16, scales[12] (eight
// 6-bit scale/min pairs), qs[128] (4-bit quants); x ≈ d·sc·q − dmin·m.

func init() {
	register(ggml.Q4_K, kernel{quantize: quantizeQ4K, dequantize: dequantizeQ4K})
}

const q4KSize = 144

func quantizeQ4K(src []float32, dst []byte) {
	quantizeBlocksK(src, dst, q4KSize, qkx2Fit(makeQKX2), quantizeBlockQ4K)
}

// quantizeBlockQ4K is quantize_row_q4_K_ref for one block, with fit as
// make_qkx2_quants.
func quantizeBlockQ4K(x *[256]float32, y []byte, s *kScratch[uint8], fit qkx2Fit) {
	fitScalesQ45K(x, y, s, 15, -1, 20, fit)
	L := &s.L

	q := y[16:144]
	for j := 0; j < 256; j += 64 {
		for l := range 32 {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
		q = q[32:]
	}
}

// fitScalesQ45K is what quantize_row_q4_K_ref and quantize_row_q5_K_ref
// share: it fits each 32-value sub-block to L in [0,nmax] with weights
// avg|x|+|x| and the grid search given by rmin and nstep, then stores the
// scales and re-quantizes L against them (encodeScalesQ45K).
func fitScalesQ45K(x *[256]float32, y []byte, s *kScratch[uint8], nmax int32, rmin float32, nstep int, fit qkx2Fit) {
	L, laux, weights := &s.L, s.laux[:], s.weights[:]
	var mins, scales [8]float32
	var maxScale, maxMin float32
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = fit(int(nmax), xs, weights, L[32*j:32*j+32], laux, rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	encodeScalesQ45K(y, x, L, &scales, &mins, maxScale, maxMin, nmax)
}

// encodeScalesQ45K writes d, dmin and the packed 6-bit scales and mins of a
// Q4_K or Q5_K block, then re-quantizes x against the stored (rounded)
// scales into L, leaving sub-blocks whose scale rounds to zero as they are.
func encodeScalesQ45K(y []byte, x *[256]float32, L *[256]uint8, scales, mins *[8]float32, maxScale, maxMin float32, nmax int32) {
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := range 8 {
		ls[j] = min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm[j] = min(63, uint8(nearestInt(float32(invMin*mins[j]))))
	}
	packScaleMinK4(y[4:16], &ls, &lm)
	d := F16ToF32(putHalf(y[0:2], maxScale/63))
	dmin := F16ToF32(putHalf(y[2:4], maxMin/63))
	for j := range 8 {
		sd := float32(d * float32(ls[j]))
		if sd == 0 {
			continue
		}
		dm := float32(dmin * float32(lm[j]))
		for ii := range 32 {
			l := nearestInt((x[32*j+ii] + dm) / sd)
			L[32*j+ii] = uint8(max(0, min(nmax, l)))
		}
	}
}

func dequantizeQ4K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*q4KSize : (i+1)*q4KSize]
		y := dst[i*256 : (i+1)*256]
		d := getHalf(b[0:2])
		dmin := getHalf(b[2:4])
		q := b[16:144]
		for j := range 4 {
			sc, m := getScaleMinK4(2*j, b[4:16])
			d1, m1 := float32(d*float32(sc)), float32(dmin*float32(m))
			sc, m = getScaleMinK4(2*j+1, b[4:16])
			d2, m2 := float32(d*float32(sc)), float32(dmin*float32(m))
			y0 := y[64*j : 64*j+32]
			y1 := y[64*j+32 : 64*j+64]
			for l := range 32 {
				y0[l] = float32(d1*float32(q[l]&0xF)) - m1
				y1[l] = float32(d2*float32(q[l]>>4)) - m2
			}
			q = q[32:]
		}
	}
}
