package quant

import "github.com/mxq-dev/mxq/ggml"

// Q4_K: 144-byte blocks of 256 values, d:f16, dmin:f16, scales[12] (eight
// 6-bit scale/min pairs), qs[128] (4-bit quants); x ≈ d·sc·q − dmin·m.

func init() {
	register(ggml.Q4_K, kernel{
		quantize:         quantizeQ4K,
		dequantize:       dequantizeQ4K,
		quantizeWeighted: quantizeQ4KWeighted,
	})
}

const q4KSize = 144

func quantizeQ4K(src []float32, dst []byte) {
	if lanes.qkx2Sums != nil {
		quantizeQ45KUnweightedLanes(src, dst, q4KSize, 15, -1, 20, func(y []byte, L *[256]uint8) { packQ4KCodes(y[16:144], L) })
		return
	}
	quantizeBlocksK(src, dst, q4KSize, qkx2Fit(makeQKX2), quantizeBlockQ4K)
}

// quantizeBlockQ4K is quantize_row_q4_K_ref for one block, with fit as
// make_qkx2_quants.
func quantizeBlockQ4K(x *[256]float32, y []byte, s *kScratch[uint8], fit qkx2Fit) {
	fitScalesQ45K(x, y, s, 15, -1, 20, fit)
	packQ4KCodes(y[16:144], &s.L)
}

// packQ4KCodes stores the 4-bit codes of a Q4_K block: within each run of
// 64, byte l holds code l in its low nibble and code l+32 in its high one.
func packQ4KCodes(q []byte, L *[256]uint8) {
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
		q45KWeights(xs, weights)
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

// q45KWeights sets the weights of the unweighted Q4_K and Q5_K fits of
// the 32 values xs: the root mean square of xs plus each |x|.
func q45KWeights(xs, weights []float32) {
	var sumX2 float32
	for _, v := range xs {
		sumX2 += float32(v * v)
	}
	avX := sqrt32(sumX2 / 32)
	weights = weights[:len(xs)]
	for l, v := range xs {
		weights[l] = avX + abs32(v)
	}
}

// quantizeQ45KLanes runs the Q4_K or Q5_K quantizer (block size size,
// codes in [0,nmax]) with the sixteen sub-block fits of two blocks at a
// time side by side: makeQKX2 with rmin, rdelta and nstep, weights set by
// weigh for sub-block sb of block blk, and the fitted scales, mins and
// codes turned into block y by encode.
func quantizeQ45KLanes(src []float32, dst []byte, size int, nmax int32, rmin, rdelta float32, nstep int,
	weigh func(blk, sb int, xs, w []float32),
	encode func(blk int, y []byte, x *[256]float32, L *[256]uint8, scales, mins *[8]float32)) {
	q := new(qkx2Lanes)
	var L [256]uint8
	var weights, zeros [32]float32
	var scales, mins [8]float32
	nb := len(src) / 256
	for i := 0; i < nb; i += 2 {
		pair := min(2, nb-i)
		for j := range laneCount {
			if b := j / 8; b < pair {
				xs := src[256*(i+b)+32*(j%8):][:32]
				weigh(i+b, j%8, xs, weights[:])
				q.load(j, xs, weights[:])
			} else {
				q.load(j, zeros[:], zeros[:])
			}
		}
		q.fit(&lanes, 32, int(nmax), rmin, rdelta, nstep, false)
		for b := range pair {
			x := (*[256]float32)(src[256*(i+b):])
			for sb := range 8 {
				j := 8*b + sb
				q.codes(j, x[32*sb:32*sb+32], L[32*sb:32*sb+32], nmax)
				scales[sb], mins[sb] = q.scale[j], q.negMin[j]
			}
			encode(i+b, dst[size*(i+b):][:size], x, &L, &scales, &mins)
		}
	}
}

// quantizeQ45KUnweightedLanes is quantize_row_q4_K_ref or _q5_K_ref
// (grid search given by rmin and nstep, codes stored by pack) with
// side-by-side sub-block fits.
func quantizeQ45KUnweightedLanes(src []float32, dst []byte, size int, nmax int32, rmin float32, nstep int, pack func(y []byte, L *[256]uint8)) {
	quantizeQ45KLanes(src, dst, size, nmax, rmin, 0.1, nstep,
		func(_, _ int, xs, w []float32) { q45KWeights(xs, w) },
		func(_ int, y []byte, x *[256]float32, L *[256]uint8, scales, mins *[8]float32) {
			var maxScale, maxMin float32
			for j := range 8 {
				maxScale = max32C(maxScale, scales[j])
				maxMin = max32C(maxMin, mins[j])
			}
			encodeScalesQ45K(y, x, L, scales, mins, maxScale, maxMin, nmax)
			pack(y, L)
		})
}

// quantizeQ45KWeightedLanes is quantize_row_q4_K_impl or _q5_K_impl with
// importance weights qw (see fitScalesQ45KWeighted) and side-by-side
// sub-block fits.
func quantizeQ45KWeightedLanes(src []float32, dst []byte, qw []float32, size int, nmax int32, clampScales bool, pack func(y []byte, L *[256]uint8)) {
	var sigma2 float32
	var sw [2][8]float32
	quantizeQ45KLanes(src, dst, size, nmax, -0.9, 0.05, 36,
		func(blk, sb int, xs, w []float32) {
			if sb == 0 {
				sigma2 = 2 * sumSquares(src[256*blk:256*blk+256]) / 256
			}
			sw[blk%2][sb] = importanceWeights(w, xs, qw[256*blk+32*sb:], sigma2)
		},
		func(blk int, y []byte, x *[256]float32, L *[256]uint8, scales, mins *[8]float32) {
			encodeScalesQ45KWeighted(y, x, L, scales, mins, &sw[blk%2], nmax, clampScales)
			pack(y, L)
		})
}

// max32C is `if v > m { m = v }`: m unless v is larger (NaN never is).
func max32C(m, v float32) float32 {
	if v > m {
		return v
	}
	return m
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
	putHalf(y[0:2], maxScale/63)
	putHalf(y[2:4], maxMin/63)
	requantizeQ45K(y, x, L, nmax)
}

// requantizeQ45K re-quantizes x into L in [0,nmax] against the scales, mins,
// d and dmin stored in the Q4_K or Q5_K block y, leaving sub-blocks whose
// scale is zero as they are.
func requantizeQ45K(y []byte, x *[256]float32, L *[256]uint8, nmax int32) {
	d, dmin := getHalf(y[0:2]), getHalf(y[2:4])
	var sd, dm [16]float32
	for j := range 8 {
		sc, m := getScaleMinK4(j, y[4:16])
		sd[2*j] = float32(d * float32(sc))
		dm[2*j] = float32(dmin * float32(m))
		sd[2*j+1], dm[2*j+1] = sd[2*j], dm[2*j]
	}
	requantizeGroups(x, &sd, &dm, 0, nmax, 0, L)
}

// fitScalesQ45KWeighted is what quantize_row_q4_K_impl and
// quantize_row_q5_K_impl share with importance weights qw: each 32-value
// sub-block is fitted by make_qkx3_quants with weights qw[j]·√(σ² + x[j]²)
// (σ² twice the block's mean square), the eight scales and mins by
// make_qp_quants weighted by the sub-blocks' total weight; then L is
// re-quantized against the stored scales. Q5_K caps the 6-bit scales at
// 63 (clampScales); Q4_K stores make_qp_quants' codes as they are.
func fitScalesQ45KWeighted(x *[256]float32, qw []float32, y []byte, s *kScratch[uint8], nmax int32, clampScales bool) {
	L, laux, weights := &s.L, s.laux[:], s.weights[:]
	var scales, mins, sw [8]float32
	sigma2 := 2 * sumSquares(x[:]) / 256
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		sw[j] = importanceWeights(weights, xs, qw[32*j:], sigma2)
		scales[j], mins[j] = makeQKX2(int(nmax), xs, weights, L[32*j:32*j+32], laux, -0.9, 0.05, 36, false)
	}
	encodeScalesQ45KWeighted(y, x, L, &scales, &mins, &sw, nmax, clampScales)
}

// encodeScalesQ45KWeighted fits the eight scales and mins of a Q4_K or
// Q5_K block with make_qp_quants weighted by the sub-blocks' total weights
// sw, stores them, and re-quantizes L against them.
func encodeScalesQ45KWeighted(y []byte, x *[256]float32, L *[256]uint8, scales, mins, sw *[8]float32, nmax int32, clampScales bool) {
	var ls, lm [8]uint8
	dBlock := makeQP(63, scales[:], ls[:], sw[:])
	mBlock := makeQP(63, mins[:], lm[:], sw[:])
	if clampScales {
		for j := range 8 {
			ls[j] = min(63, ls[j])
			lm[j] = min(63, lm[j])
		}
	}
	packScaleMinK4(y[4:16], &ls, &lm)
	putHalf(y[0:2], dBlock)
	putHalf(y[2:4], mBlock)
	requantizeQ45K(y, x, L, nmax)
}

func quantizeQ4KWeighted(src []float32, dst []byte, qw []float32) {
	if lanes.qkx2Sums != nil {
		quantizeQ45KWeightedLanes(src, dst, qw, q4KSize, 15, false, func(y []byte, L *[256]uint8) { packQ4KCodes(y[16:144], L) })
		return
	}
	var s kScratch[uint8]
	for i := range len(src) / 256 {
		y := dst[i*q4KSize : (i+1)*q4KSize]
		fitScalesQ45KWeighted((*[256]float32)(src[i*256:]), qw[i*256:], y, &s, 15, false)
		packQ4KCodes(y[16:144], &s.L)
	}
}

func dequantizeQ4K(src []byte, dst []float32) {
	if decoders.q4K != nil {
		decoders.q4K(whole(src, len(dst)/256*q4KSize), dst)
		return
	}
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
