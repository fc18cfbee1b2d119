package quant

import "github.com/mxq-dev/mxq/ggml"

// Q2_K: 84-byte blocks of 256 values, scales[16] (4-bit scale | 4-bit min
// << 4 per 16-value sub-block), qs[64] (2-bit quants), d:f16, dmin:f16;
// x ≈ d·(sc&15)·q − dmin·(sc>>4).

func init() {
	register(ggml.Q2_K, kernel{
		quantize:         quantizeQ2K,
		dequantize:       dequantizeQ2K,
		quantizeWeighted: quantizeQ2KWeighted,
	})
}

const q2KSize = 84

func quantizeQ2K(src []float32, dst []byte) {
	if lanes.qkx2Sums != nil {
		quantizeQ2KLanes(src, dst)
		return
	}
	quantizeBlocksK(src, dst, q2KSize, qkx2Fit(makeQKX2), quantizeBlockQ2K)
}

// quantizeBlockQ2K is quantize_row_q2_K_ref for one block, with fit as
// make_qkx2_quants.
func quantizeBlockQ2K(x *[256]float32, y []byte, s *kScratch[uint8], fit qkx2Fit) {
	L, laux, weights := &s.L, s.laux[:16], s.weights[:16]
	var mins, scales [16]float32
	var maxScale, maxMin float32
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = abs32(v)
		}
		scales[j], mins[j] = fit(3, xs, weights, L[16*j:16*j+16], laux, -0.5, 0.1, 15, true)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	encodeQ2K(x, y, L, &scales, &mins, maxScale, maxMin)
}

// encodeQ2K stores the fitted sub-block scales and mins of a Q2_K block
// as 4-bit multiples of d and dmin, re-quantizes x against them (see
// requantizeQ2K) and packs the codes.
func encodeQ2K(x *[256]float32, y []byte, L *[256]uint8, scales, mins *[16]float32, maxScale, maxMin float32) {
	const q4scale = 15
	sc := y[0:16]
	var d, dmin float32
	if maxScale > 0 {
		iscale := q4scale / maxScale
		for j := range 16 {
			sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
		}
		d = F16ToF32(putHalf(y[80:82], maxScale/q4scale))
	} else {
		clear(sc)
		d = F16ToF32(putHalf(y[80:82], 0))
	}
	if maxMin > 0 {
		iscale := q4scale / maxMin
		for j := range 16 {
			sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
		}
		dmin = F16ToF32(putHalf(y[82:84], maxMin/q4scale))
	} else {
		dmin = F16ToF32(putHalf(y[82:84], 0))
	}
	requantizeQ2K(x, sc, d, dmin, L)
	packQ2(y[16:80], L)
}

// requantizeQ2K re-quantizes x against the stored scales sc (4-bit scale |
// 4-bit min << 4) and the float16-rounded d and dmin, leaving sub-blocks
// whose scale is zero as they are.
func requantizeQ2K(x *[256]float32, sc []byte, d, dmin float32, L *[256]uint8) {
	sc = sc[:16]
	var sd, dm [16]float32
	for j := range sc {
		sd[j] = float32(d * float32(sc[j]&0xF))
		dm[j] = float32(dmin * float32(sc[j]>>4))
	}
	requantizeGroups(x, &sd, &dm, 0, 3, 0, L)
}

// quantizeQ2KLanes is the unweighted Q2_K quantizer with the sixteen
// sub-block fits of a block run side by side.
func quantizeQ2KLanes(src []float32, dst []byte) {
	q := new(qkx2Lanes)
	var L [256]uint8
	var weights [16]float32
	for i := range len(src) / 256 {
		x := (*[256]float32)(src[256*i:])
		for j := range laneCount {
			xs := x[16*j : 16*j+16]
			for l, v := range xs {
				weights[l] = abs32(v)
			}
			q.load(j, xs, weights[:])
		}
		q.fit(&lanes, 16, 3, -0.5, 0.1, 15, true)
		var scales, mins [16]float32
		var maxScale, maxMin float32
		for j := range laneCount {
			q.codes(j, x[16*j:16*j+16], L[16*j:16*j+16], 3)
			scales[j], mins[j] = q.scale[j], q.negMin[j]
			maxScale = max32C(maxScale, scales[j])
			maxMin = max32C(maxMin, mins[j])
		}
		encodeQ2K(x, dst[q2KSize*i:q2KSize*(i+1)], &L, &scales, &mins, maxScale, maxMin)
	}
}

func quantizeQ2KWeighted(src []float32, dst []byte, qw []float32) {
	if lanes.qkx2Sums != nil {
		quantizeQ2KWeightedLanes(src, dst, qw)
		return
	}
	var s kScratch[uint8]
	for i := range len(src) / 256 {
		quantizeBlockQ2KWeighted((*[256]float32)(src[i*256:]), qw[i*256:], dst[i*q2KSize:(i+1)*q2KSize], &s)
	}
}

// quantizeQ2KWeightedLanes is quantizeQ2KWeighted with the sixteen
// sub-block fits of a block run side by side.
func quantizeQ2KWeightedLanes(src []float32, dst []byte, qw []float32) {
	q := new(qkx2Lanes)
	var L [256]uint8
	var weights [16]float32
	for i := range len(src) / 256 {
		x := (*[256]float32)(src[256*i:])
		var scales, mins, sw [16]float32
		sigma2 := sumSquares(x[:]) / 256
		for j := range laneCount {
			xs := x[16*j : 16*j+16]
			sw[j] = importanceWeights(weights[:], xs, qw[256*i+16*j:], sigma2)
			q.load(j, xs, weights[:])
		}
		q.fit(&lanes, 16, 3, -0.9, 0.05, 36, false)
		for j := range laneCount {
			q.codes(j, x[16*j:16*j+16], L[16*j:16*j+16], 3)
			scales[j], mins[j] = q.scale[j], q.negMin[j]
		}
		encodeQ2KWeighted(x, dst[q2KSize*i:q2KSize*(i+1)], &L, &scales, &mins, &sw)
	}
}

// quantizeBlockQ2KWeighted is quantize_row_q2_K_impl for one block with
// importance weights qw: each 16-value sub-block is fitted by
// make_qkx3_quants with weights qw[j]·√(σ² + x[j]²) (σ² the block's mean
// square), and the sixteen scales and mins by make_qp_quants weighted by
// the sub-blocks' total weight.
func quantizeBlockQ2KWeighted(x *[256]float32, qw []float32, y []byte, s *kScratch[uint8]) {
	L, laux, weights := &s.L, s.laux[:16], s.weights[:16]
	var scales, mins, sw [16]float32
	sigma2 := sumSquares(x[:]) / 256
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		sw[j] = importanceWeights(weights, xs, qw[16*j:], sigma2)
		scales[j], mins[j] = makeQKX2(3, xs, weights, L[16*j:16*j+16], laux, -0.9, 0.05, 36, false)
	}
	encodeQ2KWeighted(x, y, L, &scales, &mins, &sw)
}

// encodeQ2KWeighted fits the sixteen scales and mins of a Q2_K block by
// make_qp_quants weighted by the sub-blocks' total weights sw, stores them,
// re-quantizes x against them and packs the codes.
func encodeQ2KWeighted(x *[256]float32, y []byte, L *[256]uint8, scales, mins, sw *[16]float32) {
	var ls, lm [16]uint8
	dm := makeQP(15, scales[:], ls[:], sw[:])
	mm := makeQP(15, mins[:], lm[:], sw[:])
	d := F16ToF32(putHalf(y[80:82], dm))
	dmin := F16ToF32(putHalf(y[82:84], mm))
	sc := y[0:16]
	for j := range sc {
		sc[j] = ls[j] | lm[j]<<4
	}
	requantizeQ2K(x, sc, d, dmin, L)
	packQ2(y[16:80], L)
}

func dequantizeQ2K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*q2KSize : (i+1)*q2KSize]
		y := dst[i*256 : (i+1)*256]
		d := getHalf(b[80:82])
		dmin := getHalf(b[82:84])
		is := 0
		for n := 0; n < 256; n += 128 {
			q := b[16+n/4 : 16+n/4+32]
			for shift := uint(0); shift < 8; shift += 2 {
				for half := 0; half < 2; half++ {
					sc := b[is]
					is++
					dl, ml := float32(d*float32(sc&0xF)), float32(dmin*float32(sc>>4))
					qq := q[16*half : 16*half+16]
					for l := range 16 {
						y[l] = float32(dl*float32((qq[l]>>shift)&3)) - ml
					}
					y = y[16:]
				}
			}
		}
	}
}
