package quant

import "github.com/mxq-dev/mxq/ggml"

// Q3_K: 110-byte blocks of 256 values, hmask[32] (third bits), qs[64] (low
// 2 bits), scales[12] (sixteen signed 6-bit scales), d:f16;
// x ≈ d·(s−32)·(q−4).

func init() {
	register(ggml.Q3_K, kernel{quantize: quantizeQ3K, dequantize: dequantizeQ3K})
}

const q3KSize = 110

func quantizeQ3K(src []float32, dst []byte) {
	quantizeBlocksK(src, dst, q3KSize, qxFit(makeQ3), quantizeBlockQ3K)
}

// quantizeBlockQ3K is quantize_row_q3_K_ref for one block, with fit as
// make_q3_quants.
func quantizeBlockQ3K(x *[256]float32, y []byte, s *kScratch[int8], fit qxFit) {
	L := &s.L
	var scales [16]float32
	var maxScale, amax float32
	for j := range 16 {
		scales[j] = fit(4, x[16*j:16*j+16], L[16*j:16*j+16])
		if s := abs32(scales[j]); s > amax {
			amax = s
			maxScale = scales[j]
		}
	}
	sc := y[96:108]
	clear(sc)
	var d float32
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := range 16 {
			l := int8(nearestInt(float32(iscale * scales[j])))
			l = max(-32, min(31, l)) + 32
			if j < 8 {
				sc[j] = uint8(l) & 0xF
			} else {
				sc[j-8] |= (uint8(l) & 0xF) << 4
			}
			l >>= 4
			sc[j%4+8] |= uint8(l) << (2 * (j / 4))
		}
		d = F16ToF32(putHalf(y[108:110], 1/iscale))
	} else {
		d = F16ToF32(putHalf(y[108:110], 0))
	}
	for j := range 16 {
		sd := float32(d * float32(q3Scale(sc, j)))
		if sd == 0 {
			continue
		}
		for ii := range 16 {
			l := nearestInt(x[16*j+ii] / sd)
			L[16*j+ii] = int8(max(-4, min(3, l)) + 4)
		}
	}
	hmask := y[0:32]
	clear(hmask)
	var U [256]uint8
	for j := range 256 {
		l := uint8(L[j])
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		U[j] = l
	}
	packQ2(y[32:96], &U)
}

func dequantizeQ3K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*q3KSize : (i+1)*q3KSize]
		y := dst[i*256 : (i+1)*256]
		dAll := getHalf(b[108:110])
		hm := b[0:32]
		m := uint8(1)
		is := 0
		for n := 0; n < 256; n += 128 {
			q := b[32+n/4 : 32+n/4+32]
			for shift := uint(0); shift < 8; shift += 2 {
				for half := 0; half < 2; half++ {
					dl := float32(dAll * float32(q3Scale(b[96:108], is)))
					is++
					qq := q[16*half : 16*half+16]
					hh := hm[16*half : 16*half+16]
					for l := range 16 {
						v := int8((qq[l] >> shift) & 3)
						if hh[l]&m == 0 {
							v -= 4
						}
						y[l] = dl * float32(v)
					}
					y = y[16:]
				}
				m <<= 1
			}
		}
	}
}
