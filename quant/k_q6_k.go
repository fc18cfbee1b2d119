package quant

import "github.com/mxq-dev/mxq/ggml"

// Q6_K: 210-byte blocks of 256 values, ql[128] (low nibbles), qh[64] (high
// 2 bits), scales[16] (int8 per 16-value sub-block), d:f16;
// x ≈ d·sc·(q−32).

func init() {
	register(ggml.Q6_K, kernel{
		quantize:         quantizeQ6K,
		dequantize:       dequantizeQ6K,
		quantizeWeighted: quantizeQ6KWeighted,
	})
}

const q6KSize = 210

func quantizeQ6K(src []float32, dst []byte) {
	if lanes.qxSums != nil {
		quantizeQ6KLanes(src, dst)
		return
	}
	quantizeBlocksK(src, dst, q6KSize, qxFit(makeQX), quantizeBlockQ6K)
}

// quantizeBlockQ6K is quantize_row_q6_K_ref for one block, with fit as
// make_qx_quants.
func quantizeBlockQ6K(x *[256]float32, y []byte, s *kScratch[int8], fit qxFit) {
	L := &s.L
	var scales [16]float32
	for ib := range 16 {
		scales[ib] = fit(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
	}
	encodeQ6K(x, y, L, &scales)
}

// quantizeQ6KLanes is the unweighted Q6_K quantizer with the sixteen
// sub-block fits of a block run side by side.
func quantizeQ6KLanes(src []float32, dst []byte) {
	quantizeQ6KLanesWith(src, dst, nil)
}

// quantizeQ6KLanesWith runs the Q6_K quantizer with side-by-side
// sub-block fits, sub-block j of block blk loaded with its weights by load,
// or with weights x² when load is nil.
func quantizeQ6KLanesWith(src []float32, dst []byte, load func(q *qxLanes, blk, j int, xs []float32)) {
	q := new(qxLanes)
	var L [256]int8
	for i := range len(src) / 256 {
		x := (*[256]float32)(src[256*i:])
		if load == nil {
			q.loadAllSquares(x)
		} else {
			for j := range laneCount {
				load(q, i, j, x[16*j:16*j+16])
			}
		}
		q.fit(&lanes, 16, 32)
		var scales [16]float32
		for j := range laneCount {
			q.codes(j, x[16*j:16*j+16], L[16*j:16*j+16], 32)
			scales[j] = q.scale[j]
		}
		encodeQ6K(x, dst[q6KSize*i:q6KSize*(i+1)], &L, &scales)
	}
}

func quantizeQ6KWeighted(src []float32, dst []byte, qw []float32) {
	if lanes.qxSums != nil {
		quantizeQ6KLanesWith(src, dst, func(q *qxLanes, blk, j int, xs []float32) { q.load(j, xs, qw[256*blk+16*j:]) })
		return
	}
	var s kScratch[int8]
	for i := range len(src) / 256 {
		quantizeBlockQ6KWeighted((*[256]float32)(src[i*256:]), qw[i*256:], dst[i*q6KSize:(i+1)*q6KSize], &s)
	}
}

// quantizeBlockQ6KWeighted is quantize_row_q6_K_impl for one block with
// importance weights qw: each 16-value sub-block is fitted by
// make_qx_quants weighted by qw itself (unlike the other K-quants, ggml
// does not scale Q6_K's weights by the values).
func quantizeBlockQ6KWeighted(x *[256]float32, qw []float32, y []byte, s *kScratch[int8]) {
	L := &s.L
	var scales [16]float32
	for ib := range 16 {
		scales[ib] = makeQXWeighted(32, x[16*ib:16*ib+16], qw[16*ib:16*ib+16], L[16*ib:16*ib+16])
	}
	encodeQ6K(x, y, L, &scales)
}

// encodeQ6K stores the sub-block scales of a Q6_K block as int8 multiples
// of d (the largest in magnitude becomes -128), re-quantizes x against the
// stored scales (sub-blocks whose scale is zero keep their L) and packs
// the codes. A block whose scales are all below 1e-15 is all zeros.
func encodeQ6K(x *[256]float32, y []byte, L *[256]int8, scales *[16]float32) {
	var maxScale, maxAbsScale float32
	for _, s := range scales {
		if as := abs32(s); as > maxAbsScale {
			maxAbsScale = as
			maxScale = s
		}
	}
	if maxAbsScale < 1e-15 {
		clear(y[:q6KSize])
		return
	}
	iscale := -128 / maxScale
	d := F16ToF32(putHalf(y[208:210], 1/iscale))
	sc := y[192:208]
	for ib := range 16 {
		sc[ib] = uint8(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
	}
	var sd, zero [16]float32
	for j := range 16 {
		sd[j] = float32(d * float32(int8(sc[j])))
	}
	requantizeGroups(x, &sd, &zero, -32, 31, 32, L)
	ql := y[0:128]
	qh := y[128:192]
	for j := 0; j < 256; j += 128 {
		for l := range 32 {
			a, b, c, e := uint8(L[j+l]), uint8(L[j+l+32]), uint8(L[j+l+64]), uint8(L[j+l+96])
			ql[l] = a&0xF | (c&0xF)<<4
			ql[l+32] = b&0xF | (e&0xF)<<4
			qh[l] = a>>4 | (b>>4)<<2 | (c>>4)<<4 | (e>>4)<<6
		}
		ql = ql[64:]
		qh = qh[32:]
	}
}

func dequantizeQ6K(src []byte, dst []float32) {
	if decoders.q6K != nil {
		decoders.q6K(whole(src, len(dst)/256*q6KSize), dst)
		return
	}
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*q6KSize : (i+1)*q6KSize]
		y := dst[i*256 : (i+1)*256]
		d := getHalf(b[208:210])
		ql := b[0:128]
		qh := b[128:192]
		// ggml multiplies d by the scale first, for every value.
		var ds [16]float32
		for k, sc := range b[192:208] {
			ds[k] = d * float32(int8(sc))
		}
		for n := 0; n < 256; n += 128 {
			s := ds[n/16:]
			for l := range 32 {
				is := l / 16
				q1 := int8(ql[l]&0xF|((qh[l]>>0)&3)<<4) - 32
				q2 := int8(ql[l+32]&0xF|((qh[l]>>2)&3)<<4) - 32
				q3 := int8(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
				q4 := int8(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
				y[l] = s[is] * float32(q1)
				y[l+32] = s[is+2] * float32(q2)
				y[l+64] = s[is+4] * float32(q3)
				y[l+96] = s[is+6] * float32(q4)
			}
			y = y[128:]
			ql = ql[64:]
			qh = qh[32:]
		}
	}
}
