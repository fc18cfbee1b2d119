package forward

import (
	"context"
	"math"

	"github.com/mxq-dev/mxq/ggml"
)

// In the bf16 arithmetic, tokens and weights are packed as pairs of
// bfloat16 values in one uint32, input 2p in the low half and 2p+1 in the
// high half, the layout VDPBF16PS multiplies. Panels hold panelLen inputs
// as panelLen/2 pairs; an odd input count gets a zero partner, which adds
// exactly nothing.

// toBF16 rounds f to bfloat16 as VCVTNEPS2BF16 does: to nearest, ties to
// even, NaNs kept and made quiet, subnormals to zero of the same sign
// (ggml's scalar conversion keeps them; its AVX-512 one does not).
func toBF16(f float32) uint32 {
	u := math.Float32bits(f)
	switch {
	case u&0x7f800000 == 0:
		return u >> 16 & 0x8000
	case u&0x7fffffff > 0x7f800000:
		return u>>16 | 0x40
	}
	return (u + 0x7fff + u>>16&1) >> 16
}

// pairBF16 rounds two float32 values to one pair.
func pairBF16(even, odd float32) uint32 { return toBF16(even) | toBF16(odd)<<16 }

// packedPairs holds a chunk of token rows in the bf16 tile layout: for each
// group of tileRows tokens, pair p of each token interleaved
// ([group][pairs][tileRows]), padded with zero rows to whole groups.
type packedPairs struct {
	rows, in, pairs int
	data            []uint32
}

// packPairs rounds x ([T][in]) to bfloat16 and lays it out for gemmBF16.
func packPairs(x [][]float32, in int) *packedPairs { return packPairsInto(nil, x, in) }

// packPairsInto is packPairs into buf's memory where it is large enough.
func packPairsInto(buf []uint32, x [][]float32, in int) *packedPairs {
	groups := (len(x) + tileRows - 1) / tileRows
	np := (in + 1) / 2
	p := &packedPairs{rows: len(x), in: in, pairs: np, data: reuse(buf, groups*np*tileRows)}
	for t, row := range x {
		g, r := t/tileRows, t%tileRows
		dst := p.data[g*np*tileRows : (g+1)*np*tileRows]
		row = row[:in]
		k := 0
		for ; k+1 < in; k += 2 {
			dst[k/2*tileRows+r] = pairBF16(row[k], row[k+1])
		}
		if k < in {
			dst[k/2*tileRows+r] = toBF16(row[k])
		}
	}
	return p
}

func (p *packedPairs) groups() int { return len(p.data) / (p.pairs * tileRows) }

// gemmBF16 is gemm in the bf16 arithmetic: y[t][o] = Σ_i w[o][i]·x[t][i]
// with both factors in bfloat16, summed in float32 panel by panel, each
// panel's pairs in input order (the odd input of a pair before the even
// one), from zero, and the panels' sums added to the output in order. As
// with gemm, neither the batch nor the worker count changes any result.
func gemmBF16(ctx context.Context, w weightPanels, out, in int, x *packedPairs, y [][]float32, workers int) {
	if x.rows == 0 || out == 0 {
		return
	}
	groups := x.groups()
	productBlocks(ctx, w, out, in, x.rows, groups, y, workers, func(s *gemmScratch, wb weightPanels, ob, cols, k0, kc int, c []float32) {
		if cap(s.wp) < panelLen/2*tileCols {
			s.wp = make([]uint32, panelLen/2*tileCols)
		}
		kp, p0 := (kc+1)/2, k0/2
		wp := s.wp[:kp*tileCols]
		wb.packPairs(wp, s.tmp, ob, cols, k0, kc)
		for g := range groups {
			xs := x.data[(g*x.pairs+p0)*tileRows : (g*x.pairs+p0+kp)*tileRows]
			tileBF16(kp, xs, wp, c[g*tileRows*tileCols:(g+1)*tileRows*tileCols])
		}
	})
}

// packRows8Pairs and packRows8ToPairs, where the CPU has them, lay out 8
// rows of a bf16 panel at once: row r at src + r·stride bytes, blocks·16
// inputs each, into dst[p·tileCols + r] (see transpose8Pairs and
// transpose8ToPairs).
var (
	packRows8Pairs   func(dst *uint32, src *byte, stride, blocks int)
	packRows8ToPairs func(dst *uint32, src *float32, stride, blocks int)
)

// packPairsPanel rounds w[o0:o0+cols][k0:k0+kc] to bfloat16 pairs laid
// out pair-major in wp ([(kc+1)/2][tileCols]), missing rows zero.
func packPairsPanel(wp []uint32, w []float32, in, o0, cols, k0, kc int) {
	kp := (kc + 1) / 2
	wp = wp[:kp*tileCols]
	if cols < tileCols {
		clear(wp)
	}
	j := 0
	if packRows8ToPairs != nil && kc%16 == 0 {
		for ; j+8 <= cols; j += 8 {
			src := w[(o0+j)*in+k0 : (o0+j+7)*in+k0+kc]
			packRows8ToPairs(&wp[j], &src[0], 4*in, kc/16)
		}
	}
	for ; j < cols; j++ {
		row := w[(o0+j)*in+k0 : (o0+j)*in+k0+kc]
		k := 0
		for ; k+1 < kc; k += 2 {
			wp[k/2*tileCols+j] = pairBF16(row[k], row[k+1])
		}
		if k < kc {
			wp[k/2*tileCols+j] = toBF16(row[k])
		}
	}
}

// packPairsBF16 is packPairsPanel for a BF16 matrix: the stored values
// are the pairs already, moved as they are.
func (m *QuantMatrix) packPairsBF16(wp []uint32, o0, cols, k0, kc int) {
	kp := (kc + 1) / 2
	wp = wp[:kp*tileCols]
	if cols < tileCols {
		clear(wp)
	}
	in := m.Cols
	j := 0
	if packRows8Pairs != nil && kc%16 == 0 {
		for ; j+8 <= cols; j += 8 {
			src := m.Data[2*((o0+j)*in+k0) : 2*((o0+j+7)*in+k0+kc)]
			packRows8Pairs(&wp[j], &src[0], 2*in, kc/16)
		}
	}
	for ; j < cols; j++ {
		row := m.Data[2*((o0+j)*in+k0) : 2*((o0+j)*in+k0+kc)]
		k := 0
		for ; k+1 < kc; k += 2 {
			wp[k/2*tileCols+j] = uint32(row[2*k]) | uint32(row[2*k+1])<<8 | uint32(row[2*k+2])<<16 | uint32(row[2*k+3])<<24
		}
		if k < kc {
			wp[k/2*tileCols+j] = uint32(row[2*k]) | uint32(row[2*k+1])<<8
		}
	}
}

// fromBF16 widens a bfloat16 value as VDPBF16PS reads it: exactly, with
// subnormals taken as zero.
func fromBF16(h uint32) float32 {
	u := h << 16
	if u&0x7f800000 == 0 {
		u &= 0x80000000
	}
	return math.Float32frombits(u)
}

// ftz flushes a subnormal sum to zero of the same sign, as VDPBF16PS does
// with each of its additions.
func ftz(f float32) float32 {
	if u := math.Float32bits(f); u&0x7f800000 == 0 {
		return math.Float32frombits(u & 0x80000000)
	}
	return f
}

// tileBF16Go is the portable bf16 tile kernel: c[r][j] += the float32 sum
// over pairs p of x[p][r]·w[p][j], each pair adding its odd input's
// product, then its even input's, from zero: VDPBF16PS's documented
// order. Products of two bfloat16 values are exact in float32 (unless they
// underflow), so only the additions round.
func tileBF16Go(kp int, x, w []uint32, c []float32) {
	x, w = x[:kp*tileRows], w[:kp*tileCols]
	c = c[:tileRows*tileCols]
	var acc [tileCols]float32
	for r := range tileRows {
		clear(acc[:])
		for p := range kp {
			xe, xo := fromBF16(x[p*tileRows+r]&0xffff), fromBF16(x[p*tileRows+r]>>16)
			wk := (*[tileCols]uint32)(w[p*tileCols:])
			for j, wv := range wk {
				a := ftz(acc[j] + float32(xo*fromBF16(wv>>16)))
				acc[j] = ftz(a + float32(xe*fromBF16(wv&0xffff)))
			}
		}
		cr := (*[tileCols]float32)(c[r*tileCols:])
		for j, a := range acc {
			cr[j] += a
		}
	}
}

func (d denseWeights) packPairs(wp []uint32, _ []float32, o0, cols, k0, kc int) {
	packPairsPanel(wp, d.w, d.in, o0, cols, k0, kc)
}

// packPairs decodes the panel's blocks to float32 (decodePanel) and
// rounds them into pairs; BF16 values are the pairs already.
func (m *QuantMatrix) packPairs(wp []uint32, tmp []float32, o0, cols, k0, kc int) {
	if m.Type == ggml.BF16 {
		m.packPairsBF16(wp, o0, cols, k0, kc)
		return
	}
	m.decodePanel(tmp, o0, cols, k0, kc)
	packPairsPanel(wp, tmp[:cols*kc], kc, 0, cols, 0, kc)
}
