package quant

import "github.com/mxq-dev/mxq/ggml"

// Q5_K: 176-byte blocks of 256 values, d:f16, dmin:f16, scales[12] (as
// Q4_K), qh[32] (fifth bits), qs[128] (low nibbles); x ≈ d·sc·q − dmin·m.

func init() {
	register(ggml.Q5_K, kernel{
		quantize:         quantizeQ5K,
		dequantize:       dequantizeQ5K,
		quantizeWeighted: quantizeQ5KWeighted,
	})
}

const q5KSize = 176

func quantizeQ5K(src []float32, dst []byte) {
	if lanes.qkx2Sums != nil {
		quantizeQ45KUnweightedLanes(src, dst, q5KSize, 31, -0.5, 15, packQ5KCodes)
		return
	}
	quantizeBlocksK(src, dst, q5KSize, qkx2Fit(makeQKX2), quantizeBlockQ5K)
}

// quantizeBlockQ5K is quantize_row_q5_K_ref for one block, with fit as
// make_qkx2_quants.
func quantizeBlockQ5K(x *[256]float32, y []byte, s *kScratch[uint8], fit qkx2Fit) {
	fitScalesQ45K(x, y, s, 31, -0.5, 15, fit)
	packQ5KCodes(y, &s.L)
}

func quantizeQ5KWeighted(src []float32, dst []byte, qw []float32) {
	if lanes.qkx2Sums != nil {
		quantizeQ45KWeightedLanes(src, dst, qw, q5KSize, 31, true, packQ5KCodes)
		return
	}
	var s kScratch[uint8]
	for i := range len(src) / 256 {
		y := dst[i*q5KSize : (i+1)*q5KSize]
		fitScalesQ45KWeighted((*[256]float32)(src[i*256:]), qw[i*256:], y, &s, 31, true)
		packQ5KCodes(y, &s.L)
	}
}

// packQ5KCodes stores the 5-bit codes of Q5_K block y: fifth bits in qh,
// low nibbles in qs laid out as Q4_K's.
func packQ5KCodes(y []byte, L *[256]uint8) {
	qh := (*[32]byte)(y[16:48])
	ql := (*[128]byte)(y[48:176])
	var hi [32]byte
	// Codes are 0..31: bit 4 is the fifth bit, the rest the nibble.
	for k := range 4 {
		lo, up := (*[32]uint8)(L[64*k:]), (*[32]uint8)(L[64*k+32:])
		q := (*[32]byte)(ql[32*k:])
		for j := range 32 {
			l1, l2 := lo[j], up[j]
			hi[j] |= (l1>>4)<<(2*k) | (l2>>4)<<(2*k+1)
			q[j] = l1&15 | (l2&15)<<4
		}
	}
	*qh = hi
}

func dequantizeQ5K(src []byte, dst []float32) {
	if decoders.q5K != nil {
		decoders.q5K(whole(src, len(dst)/256*q5KSize), dst)
		return
	}
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*q5KSize : (i+1)*q5KSize]
		y := dst[i*256 : (i+1)*256]
		d := getHalf(b[0:2])
		dmin := getHalf(b[2:4])
		qh := b[16:48]
		ql := b[48:176]
		for j := range 4 {
			sc, m := getScaleMinK4(2*j, b[4:16])
			d1, m1 := float32(d*float32(sc)), float32(dmin*float32(m))
			sc, m = getScaleMinK4(2*j+1, b[4:16])
			d2, m2 := float32(d*float32(sc)), float32(dmin*float32(m))
			y0 := y[64*j : 64*j+32]
			y1 := y[64*j+32 : 64*j+64]
			// The fifth bits of this pair of sub-blocks are bits 2j and
			// 2j+1 of qh, taken without branches: they are random.
			for l, h := range qh[:32] {
				h >>= 2 * j
				q0, q1 := ql[l]&0xF|(h&1)<<4, ql[l]>>4|(h&2)<<3
				y0[l] = float32(d1*float32(q0)) - m1
				y1[l] = float32(d2*float32(q1)) - m2
			}
			ql = ql[32:]
		}
	}
}
