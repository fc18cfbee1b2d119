package quant

import "github.com/mxq-dev/mxq/ggml"

// Q3_K: 110-byte blocks of 256 values, hmask[32] (third bits), qs[64] (low
// 2 bits), scales[12] (sixteen signed 6-bit scales), d:f16;
// x ≈ d·(s−32)·(q−4).

func init() {
	register(ggml.Q3_K, kernel{
		quantize:         quantizeQ3K,
		dequantize:       dequantizeQ3K,
		quantizeWeighted: quantizeQ3KWeighted,
	})
}

const q3KSize = 110

func quantizeQ3K(src []float32, dst []byte) {
	if lanes.q3Pass != nil {
		quantizeQ3KLanes(src, dst)
		return
	}
	quantizeBlocksK(src, dst, q3KSize, qxFit(makeQ3), quantizeBlockQ3K)
}

// quantizeBlockQ3K is quantize_row_q3_K_ref for one block, with fit as
// make_q3_quants.
func quantizeBlockQ3K(x *[256]float32, y []byte, s *kScratch[int8], fit qxFit) {
	L := &s.L
	var scales [16]float32
	for j := range 16 {
		scales[j] = fit(4, x[16*j:16*j+16], L[16*j:16*j+16])
	}
	encodeQ3K(x, y, L, &scales)
}

// encodeQ3K stores the sixteen sub-block scales of a Q3_K block as signed
// 6-bit multiples of d, then re-quantizes x against them and packs the
// codes (finishQ3K).
func encodeQ3K(x *[256]float32, y []byte, L *[256]int8, scales *[16]float32) {
	var maxScale, amax float32
	for j := range 16 {
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
			putQ3Scale(sc, j, uint8(max(-32, min(31, l))+32))
		}
		d = F16ToF32(putHalf(y[108:110], 1/iscale))
	} else {
		d = F16ToF32(putHalf(y[108:110], 0))
	}
	finishQ3K(x, y, L, d)
}

// quantizeQ3KLanes is the unweighted Q3_K quantizer with the sixteen
// sub-block fits of a block run side by side.
func quantizeQ3KLanes(src []float32, dst []byte) {
	q := new(qxLanes)
	var L [256]int8
	for i := range len(src) / 256 {
		x := (*[256]float32)(src[256*i:])
		q.loadAllSquares(x)
		scales := makeQ3Lanes(&lanes, q, x, &L)
		encodeQ3K(x, dst[q3KSize*i:q3KSize*(i+1)], &L, &scales)
	}
}

// putQ3Scale ors the 6-bit biased scale l of sub-block j into the 12 scale
// bytes sc of a Q3_K block (which start cleared): low nibbles in bytes
// 0..7, two high bits per sub-block in bytes 8..11.
func putQ3Scale(sc []byte, j int, l uint8) {
	if j < 8 {
		sc[j] = l & 0xF
	} else {
		sc[j-8] |= (l & 0xF) << 4
	}
	sc[j%4+8] |= (l >> 4) << (2 * (j / 4))
}

// finishQ3K re-quantizes x against the stored scales of block y and the
// float16-rounded d (sub-blocks whose scale is zero keep their L), then
// stores the codes: third bits in hmask, low two bits in qs.
func finishQ3K(x *[256]float32, y []byte, L *[256]int8, d float32) {
	sc := y[96:108]
	var sd, zero [16]float32
	for j := range 16 {
		sd[j] = float32(d * float32(q3Scale(sc, j)))
	}
	requantizeGroups(x, &sd, &zero, -4, 3, 4, L)
	hmask := y[0:32]
	clear(hmask)
	var U [256]uint8
	for m := range 8 {
		for k := range 32 {
			l := uint8(L[32*m+k])
			hmask[k] |= l >> 2 << m // codes are 0..7: bit 2 is "l > 3"
			U[32*m+k] = l & 3
		}
	}
	packQ2(y[32:96], &U)
}

func quantizeQ3KWeighted(src []float32, dst []byte, qw []float32) {
	if lanes.qxSums != nil {
		quantizeQ3KWeightedLanes(src, dst, qw)
		return
	}
	var s kScratch[int8]
	for i := range len(src) / 256 {
		quantizeBlockQ3KWeighted((*[256]float32)(src[i*256:]), qw[i*256:], dst[i*q3KSize:(i+1)*q3KSize], &s)
	}
}

// quantizeQ3KWeightedLanes is quantizeQ3KWeighted with the sixteen
// sub-block fits of a block run side by side.
func quantizeQ3KWeightedLanes(src []float32, dst []byte, qw []float32) {
	q := new(qxLanes)
	var L [256]int8
	var weights [16]float32
	for i := range len(src) / 256 {
		x := (*[256]float32)(src[256*i:])
		var scales, sw [16]float32
		sigma2 := 2 * sumSquares(x[:]) / 256
		for j := range laneCount {
			xs := x[16*j : 16*j+16]
			sw[j] = importanceWeights(weights[:], xs, qw[256*i+16*j:], sigma2)
			q.load(j, xs, weights[:])
		}
		q.fit(&lanes, 16, 4)
		for j := range laneCount {
			q.codes(j, x[16*j:16*j+16], L[16*j:16*j+16], 4)
			scales[j] = q.scale[j]
		}
		encodeQ3KWeighted(x, dst[q3KSize*i:q3KSize*(i+1)], &L, &scales, &sw)
	}
}

// quantizeBlockQ3KWeighted is quantize_row_q3_K_impl for one block with
// importance weights qw: each 16-value sub-block is fitted by
// make_qx_quants with weights qw[j]·√(σ² + x[j]²) (σ² twice the block's
// mean square), and the sixteen scales by make_qx_quants weighted by the
// sub-blocks' total weight.
func quantizeBlockQ3KWeighted(x *[256]float32, qw []float32, y []byte, s *kScratch[int8]) {
	L, weights := &s.L, s.weights[:16]
	var scales, sw [16]float32
	sigma2 := 2 * sumSquares(x[:]) / 256
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		sw[j] = importanceWeights(weights, xs, qw[16*j:], sigma2)
		scales[j] = makeQXWeighted(4, xs, weights, L[16*j:16*j+16])
	}
	encodeQ3KWeighted(x, y, L, &scales, &sw)
}

// encodeQ3KWeighted fits the sixteen sub-block scales of a Q3_K block by
// make_qx_quants weighted by the sub-blocks' total weights sw, stores them,
// re-quantizes x against them and packs the codes.
func encodeQ3KWeighted(x *[256]float32, y []byte, L *[256]int8, scales, sw *[16]float32) {
	var ls [16]int8
	dBlock := makeQXWeighted(32, scales[:], sw[:], ls[:])
	sc := y[96:108]
	clear(sc)
	for j, l := range ls {
		putQ3Scale(sc, j, uint8(l))
	}
	finishQ3K(x, y, L, F16ToF32(putHalf(y[108:110], dBlock)))
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
