package quant

import (
	"encoding/binary"
	"math"

	"github.com/mxq-dev/mxq/ggml"
)

// IQ1_S and IQ1_M: groups of 8 values from a grid of ternary points
// (-1, 0, 1 per coordinate) shifted by ±1/8, with a 3-bit scale per block
// (ggml's quantize_row_iq1_s_impl, quantize_row_iq1_m_impl and their
// dequantizers). ggml makes IQ1_S only with importance weights.
//
// Each block stores a shift choice; an all-zero block stores the choice
// last made for a block at the same position, in this row or an earlier
// one, because ggml keeps those choices in an array that lives for a
// whole ggml_quantize_chunk call. mxq reproduces a single call over the
// whole matrix: a range of rows starts from the choices the rows before
// it leave (iq1CarryIn), so the bytes do not depend on how rows are split
// between workers. (Before the first choice ggml reads uninitialised
// memory; mxq starts from 0, the unshifted grid for IQ1_M and +1/8 for
// IQ1_S.)

func init() {
	register(ggml.IQ1_S, kernel{
		quantizeWeighted: func(src []float32, dst []byte, qw []float32) { quantizeIQ1SRows(src, len(src), 0, 1, dst, qw) },
		quantizeRows:     quantizeIQ1SRows,
		dequantize:       dequantizeIQ1S,
		requiresWeights:  true,
	})
	register(ggml.IQ1_M, kernel{
		quantize:         func(src []float32, dst []byte) { quantizeIQ1MRows(src, len(src), 0, 1, dst, nil) },
		quantizeWeighted: func(src []float32, dst []byte, qw []float32) { quantizeIQ1MRows(src, len(src), 0, 1, dst, qw) },
		quantizeRows:     quantizeIQ1MRows,
		dequantize:       dequantizeIQ1M,
	})
}

// iq1Delta is IQ1S_DELTA and IQ1M_DELTA: the grid shift.
const iq1Delta = 0.125

// The values of levels 0, 1, 2 with the grid shifted up (plus) or down.
var (
	iq1Plus  = [3]float32{-1 + iq1Delta, iq1Delta, 1 + iq1Delta}
	iq1Minus = [3]float32{-1 - iq1Delta, -iq1Delta, 1 - iq1Delta}
)

// sortedOrder writes to idx the positions of x in ascending order of
// value, equal values in their original order (glibc's qsort, which ggml
// calls here, is a stable merge sort for arrays this small).
func sortedOrder(x []float32, idx []int) {
	idx = idx[:len(x)]
	for j := range idx {
		idx[j] = j
	}
	for j := 1; j < len(idx); j++ {
		v := idx[j]
		k := j
		for ; k > 0 && x[idx[k-1]] > x[v]; k-- {
			idx[k] = idx[k-1]
		}
		idx[k] = v
	}
}

// ternaryLevels sets the levels of the values at sorted positions
// [0, i1) to 0, [i1, i2) to 1 and the rest to 2.
func ternaryLevels(L []int8, idx []int, i1, i2 int) {
	for j, i := range idx {
		switch {
		case j < i1:
			L[i] = 0
		case j < i2:
			L[i] = 1
		default:
			L[i] = 2
		}
	}
}

// bestNeighbourIQ1 is iq1_find_best_neighbour2: the neighbour minimising
// Σ w·(scale·xx[level] − x)², the first on ties. ggml then scans the whole
// grid reading past the group (an out-of-bounds read) and aborts when every
// error is infinite or NaN; mxq takes the first neighbour.
func (s *latticeSearch) bestNeighbourIQ1(code int, x, w []float32, scale float32, xx *[3]float32, L []int8) int {
	var v [8]float32 // levels 0..2; the rest pads a SIMD register
	for l, q := range xx {
		v[l] = float32(scale * q)
	}
	return s.bestNeighbour8(code, x, w, &v, L)
}

// iq1GroupIndex looks a group's levels up in the grid, taking the best
// neighbour when they are off it; it reports whether they were on it.
func (s *latticeSearch) iq1GroupIndex(x, w []float32, scale float32, xx *[3]float32, L []int8) (int, bool) {
	code := 0
	for i, l := range L[:8] {
		code |= int(l) << (2 * i)
	}
	if g := s.index[code]; g >= 0 {
		return int(g), true
	}
	return s.bestNeighbourIQ1(code, x, w, scale, xx, L), false
}

// iq1Refit is the least-squares scale of a block's chosen grid points with
// values xx[k] for group k, or scale when that is not positive.
func (s *latticeSearch) iq1Refit(x, w []float32, index []int, xx []*[3]float32, scale float32) float32 {
	var sumqx, sumq2 float32
	for k, g := range index {
		for j, l := range s.levels[g*8 : g*8+8] {
			q := xx[k][l]
			wq := float32(w[8*k+j] * q)
			sumqx += float32(wq * x[8*k+j])
			sumq2 += float32(wq * q)
		}
	}
	if sumqx > 0 && sumq2 > 0 {
		return sumqx / sumq2
	}
	return scale
}

// iq1sSplit is IQ1_S's exact weighted fit of a 32-value block to three
// levels: with the values sorted, each pair of split points (i1, i2) gives
// levels 0, 1, 2 to the three runs, and prefix sums give each split's
// least-squares score for either grid shift. It returns the best split,
// its shift (+1 or -1) and scale, and leaves the sorted order in idx.
func iq1sSplit(xb, weight []float32, idx *[32]int, mx float32) (i1, i2, shift int, scale float32) {
	var sumx, sumw [33]float32
	sortedOrder(xb, idx[:])
	for j, i := range idx {
		sumx[j+1] = sumx[j] + float32(weight[i]*xb[i])
		sumw[j+1] = sumw[j] + weight[i]
	}
	// Terms that depend on one split point only are computed once; every
	// product is the one ggml forms, so the sums are bit for bit its sums.
	var lowX, lowQ, highX, highQ [2][33]float32
	for sh, xx := range [2]*[3]float32{&iq1Plus, &iq1Minus} {
		for i := range 33 {
			lowX[sh][i] = float32((sumx[i] - sumx[0]) * xx[0])
			lowQ[sh][i] = float32(float32((sumw[i]-sumw[0])*xx[0]) * xx[0])
			highX[sh][i] = float32((sumx[32] - sumx[i]) * xx[2])
			highQ[sh][i] = float32(float32((sumw[32]-sumw[i])*xx[2]) * xx[2])
		}
	}
	// The middle level's value is +δ or −δ; rounding is symmetric in sign,
	// so the minus grid's middle terms are the plus grid's, negated (Σwqx)
	// or equal (Σwq²).
	d := iq1Plus[1]
	bestS := float32(-math.MaxFloat32)
	scale = mx
	// With SIMD, batches of eight b in which no candidate beats the best
	// score (most of them) are skipped: they cannot change it, and the
	// others run the scalar loop.
	var tab [6][40]float32
	if useGridLanes {
		for r, row := range [6]*[33]float32{&sumx, &sumw, &highX[0], &highQ[0], &highX[1], &highQ[1]} {
			copy(tab[r][:], row[:])
		}
	}
	for a := 0; a <= 32; a++ {
		lxp, lqp, lxm, lqm := lowX[0][a], lowQ[0][a], lowX[1][a], lowQ[1][a]
		sxa, swa := sumx[a], sumw[a]
		b, end := a, 33
		if useGridLanes {
			b = iq1ScanLanes(&tab, &[8]float32{sxa, swa, lxp, lqp, lxm, lqm, d, bestS}, a)
			end = min(b+8, 33)
		}
		for ; b < end; b++ {
			mx1 := float32((sumx[b] - sxa) * d)
			mq1 := float32(float32((sumw[b]-swa)*d) * d)
			sumqx := lxp + mx1 + highX[0][b]
			sumq2 := lqp + mq1 + highQ[0][b]
			if sumq2 > 0 && float32(sumqx*sumqx) > float32(bestS*sumq2) {
				scale = sumqx / sumq2
				bestS = float32(scale * sumqx)
				i1, i2, shift = a, b, 1
			}
			sumqx = lxm - mx1 + highX[1][b]
			sumq2 = lqm + mq1 + highQ[1][b]
			if sumq2 > 0 && float32(sumqx*sumqx) > float32(bestS*sumq2) {
				scale = sumqx / sumq2
				bestS = float32(scale * sumqx)
				i1, i2, shift = a, b, -1
			}
			if b == end-1 && end < 33 {
				// The next batch that can change the best score.
				b = iq1ScanLanes(&tab, &[8]float32{sxa, swa, lxp, lqp, lxm, lqm, d, bestS}, end) - 1
				end = min(b+9, 33)
			}
		}
	}
	if shift == 0 {
		// No split has a positive weight (ggml asserts): all levels 1.
		return 0, 32, 1, scale
	}
	return i1, i2, shift, scale
}

// iq1sBlockShift is the shift IQ1_S stores for a block, and false for an
// all-zero block, which stores none.
func iq1sBlockShift(xb, qw []float32, sigma2 float32) (int8, bool) {
	var weight [32]float32
	var idx [32]int
	importanceWeights(weight[:], xb[:len(weight)], qw, sigma2)
	mx := absMax(xb[:32])
	if mx < 1e-12 {
		return 0, false
	}
	_, _, shift, scale := iq1sSplit(xb, weight[:], &idx, mx)
	if scale < 0 {
		shift = -shift
	}
	return int8(shift), true
}

// quantizeIQ1SRows quantizes rows [r0, r1) of src with importance weights qw.
func quantizeIQ1SRows(src []float32, rowLen, r0, r1 int, dst []byte, qw []float32) {
	var shifts [8]int8
	iq1CarryIn(src, rowLen, r0, qw, shifts[:], iq1sBlockShift)
	rb := rowLen / 256 * 50
	for r := r0; r < r1; r++ {
		quantizeIQ1SRow(src[r*rowLen:(r+1)*rowLen], dst[r*rb:(r+1)*rb], qw, &shifts)
	}
}

func quantizeIQ1SRow(src []float32, dst []byte, qw []float32, shifts *[8]int8) {
	s := iq1sLattice.searchTables()
	var (
		weight [32]float32
		idx    [32]int
		L      [32]int8
		index  [4]int
		scales [8]float32
		xxs    [4]*[3]float32
	)
	for ibl := range len(src) / 256 {
		x := src[ibl*256 : ibl*256+256]
		out := dst[ibl*50 : ibl*50+50]
		clear(out)
		qs := out[2:34]
		sigma2 := superBlockSigma2(x, true)
		var maxScale float32
		for ib := range 8 {
			xb := x[32*ib : 32*ib+32]
			importanceWeights(weight[:], xb[:len(weight)], qw[ibl*256+32*ib:], sigma2)
			mx := absMax(xb)
			if mx < 1e-12 {
				scales[ib] = 0
				continue
			}
			i1, i2, shift, scale := iq1sSplit(xb, weight[:], &idx, mx)
			ternaryLevels(L[:], idx[:], i1, i2)
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale, shift = -scale, -shift
			}
			xx := &iq1Plus
			if shift < 0 {
				xx = &iq1Minus
			}
			allOnGrid := true
			for k := range 4 {
				g, on := s.iq1GroupIndex(xb[8*k:], weight[8*k:], scale, xx, L[8*k:])
				index[k] = g
				allOnGrid = allOnGrid && on
				xxs[k] = xx
			}
			if !allOnGrid {
				scale = s.iq1Refit(xb, weight[:], index[:], xxs[:], scale)
			}
			var h uint16
			for k, g := range index {
				qs[4*ib+k] = uint8(g)
				h |= uint16(g>>8) << (3 * k)
			}
			binary.LittleEndian.PutUint16(out[34+2*ib:], h)
			scales[ib] = scale
			shifts[ib] = int8(shift)
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 15
		putHalf(out, float32(d*1.125))
		id := 1 / d
		for ib := range 8 {
			l := uint16(gridLevel(id, scales[ib], 7))
			if shifts[ib] == -1 {
				l |= 8
			}
			h := binary.LittleEndian.Uint16(out[34+2*ib:])
			binary.LittleEndian.PutUint16(out[34+2*ib:], h|l<<12)
		}
	}
}

// iq1CarryIn sets shifts to the choices the super-blocks before row r0
// leave: for each block position, that of the last block there that was
// not all zero. blockShift gives a block's choice from its values, its
// importance weights (or nil) and its super-block's sigma2.
func iq1CarryIn(src []float32, rowLen, r0 int, qw []float32, shifts []int8, blockShift func(xb, qw []float32, sigma2 float32) (int8, bool)) {
	size := 256 / len(shifts)
	open := uint32(1)<<len(shifts) - 1
	for b := r0*rowLen/256 - 1; b >= 0 && open != 0; b-- {
		x := src[b*256 : b*256+256]
		col := b * 256 % rowLen
		sigma2 := superBlockSigma2(x, true)
		for ib := range shifts {
			if open&(1<<ib) == 0 {
				continue
			}
			var w []float32
			if qw != nil {
				w = qw[col+ib*size:]
			}
			if sh, ok := blockShift(x[ib*size:(ib+1)*size], w, sigma2); ok {
				shifts[ib] = sh
				open &^= 1 << ib
			}
		}
	}
}

func dequantizeIQ1S(src []byte, dst []float32) {
	grid := iq1sLattice.decodeGrid()
	for i := range len(dst) / 256 {
		b := src[i*50 : i*50+50]
		y := dst[i*256 : i*256+256]
		d := getHalf(b)
		qs := b[2:34]
		for ib := range 8 {
			qh := binary.LittleEndian.Uint16(b[34+2*ib:])
			dl := d * float32(2*((qh>>12)&7)+1)
			delta := float32(iq1Delta)
			if qh&0x8000 != 0 {
				delta = -iq1Delta
			}
			for l := range 4 {
				g := int(qs[4*ib+l]) | int((qh>>(3*l))&7)<<8
				decodeShifted8(y[32*ib+8*l:], grid[g*8:], dl, delta)
			}
		}
	}
}

// decodeShifted8 writes the 8 values dl·(g[j] + delta).
func decodeShifted8(y, g []float32, dl, delta float32) {
	y, g = y[:8], g[:8]
	for j, v := range g {
		y[j] = dl * (v + delta)
	}
}

// iq1mShifts maps ggml's IQ1_M shift choice k (bit 1: first group shifted
// down, bit 0: second group) to the qh bits that store it.
var iq1mShiftBits = [4]uint8{0x00, 0x80, 0x08, 0x88}

// iq1mShift returns the level values of group k (0 or 1) of a block
// whose shift choice is shift.
func iq1mShift(shift int8, k int) *[3]float32 {
	if (k == 0 && shift >= 2) || (k == 1 && shift%2 == 1) {
		return &iq1Minus
	}
	return &iq1Plus
}

// iq1mScratch holds, for each sorted position and level, the terms the
// IQ1_M split search sums: w·v·x and w·v·v for the value v the level has
// under each of the four shift choices.
type iq1mScratch struct {
	tx, tq [3][4][16]float32
}

// iq1mSplit is IQ1_M's exact weighted fit of a 16-value block to three
// levels, as iq1sSplit, trying four shift choices (each half of the
// block shifted up or down). It returns the best split, choice and scale,
// and leaves the sorted order in idx.
func iq1mSplit(xb, weight []float32, idx *[16]int, t *iq1mScratch, mx float32) (i1, i2, choice int, scale float32) {
	sortedOrder(xb, idx[:])
	// The terms each rounded as ggml rounds them; the sums below add them
	// in ggml's order, ascending sorted position.
	for j, i := range idx {
		for lv := range 3 {
			for k := range 4 {
				v := iq1mShift(int8(k), i/8)[lv]
				wv := float32(weight[i] * v)
				t.tx[lv][k][j] = float32(wv * xb[i])
				t.tq[lv][k][j] = float32(wv * v)
			}
		}
	}
	bestS := float32(-math.MaxFloat32)
	scale = mx
	choice = -1
	// ggml sums each split's terms from position 0 up; the sums over the
	// level-0 and level-1 runs are prefixes shared by later splits, so
	// they are carried along, and only the level-2 run is summed afresh.
	var pre [4][2]float32
	for a := 0; a <= 16; a++ {
		if a > 0 {
			for k := range pre {
				pre[k][0] += t.tx[0][k][a-1]
				pre[k][1] += t.tq[0][k][a-1]
			}
		}
		mid := pre
		for b := a; b <= 16; b++ {
			if b > a {
				for k := range mid {
					mid[k][0] += t.tx[1][k][b-1]
					mid[k][1] += t.tq[1][k][b-1]
				}
			}
			for k := range 4 {
				sumqx, sumq2 := mid[k][0], mid[k][1]
				tx, tq := t.tx[2][k][b:], t.tq[2][k][b:]
				for j, v := range tx {
					sumqx += v
					sumq2 += tq[j]
				}
				if sumq2 > 0 && float32(sumqx*sumqx) > float32(bestS*sumq2) {
					scale = sumqx / sumq2
					bestS = float32(scale * sumqx)
					i1, i2, choice = a, b, k
				}
			}
		}
	}
	if choice < 0 {
		// No split has a positive weight (ggml asserts): all levels 1.
		return 0, 16, 0, scale
	}
	return i1, i2, choice, scale
}

// iq1mBlockShift is the shift choice IQ1_M stores for a block, and false
// for an all-zero block, which stores none.
func iq1mBlockShift(xb, qw []float32, sigma2 float32) (int8, bool) {
	var weight [16]float32
	var idx [16]int
	var t iq1mScratch
	iq1mWeights(weight[:], qw, 0, xb, sigma2)
	mx := absMax(xb[:16])
	if mx < 1e-7 {
		return 0, false
	}
	_, _, choice, scale := iq1mSplit(xb, weight[:], &idx, &t, mx)
	if scale < 0 {
		choice = 3 - choice
	}
	return int8(choice), true
}

// quantizeIQ1MRows quantizes rows [r0, r1) of src; qw, when not nil,
// holds a weight per column.
func quantizeIQ1MRows(src []float32, rowLen, r0, r1 int, dst []byte, qw []float32) {
	var shifts [16]int8
	iq1CarryIn(src, rowLen, r0, qw, shifts[:], iq1mBlockShift)
	rb := rowLen / 256 * 56
	for r := r0; r < r1; r++ {
		quantizeIQ1MRow(src[r*rowLen:(r+1)*rowLen], dst[r*rb:(r+1)*rb], qw, &shifts)
	}
}

func quantizeIQ1MRow(src []float32, dst []byte, qw []float32, shifts *[16]int8) {
	s := iq1sLattice.searchTables()
	var (
		weight [16]float32
		idx    [16]int
		L      [16]int8
		index  [2]int
		scales [16]float32
		xxs    [2]*[3]float32
		t      iq1mScratch
	)
	for ibl := range len(src) / 256 {
		x := src[ibl*256 : ibl*256+256]
		out := dst[ibl*56 : ibl*56+56]
		clear(out)
		qs, qh := out[0:32], out[32:48]
		sigma2 := superBlockSigma2(x, true)
		var maxScale float32
		for ib := range 16 {
			xb := x[16*ib : 16*ib+16]
			iq1mWeights(weight[:], qw, ibl*256+16*ib, xb, sigma2)
			mx := absMax(xb)
			if mx < 1e-7 {
				scales[ib] = 0
				continue
			}
			i1, i2, choice, scale := iq1mSplit(xb, weight[:], &idx, &t, mx)
			ternaryLevels(L[:], idx[:], i1, i2)
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale = -scale
				choice = 3 - choice
			}
			allOnGrid := true
			for k := range 2 {
				xxs[k] = iq1mShift(int8(choice), k)
				g, on := s.iq1GroupIndex(xb[8*k:], weight[8*k:], scale, xxs[k], L[8*k:])
				index[k] = g
				allOnGrid = allOnGrid && on
			}
			if !allOnGrid {
				scale = s.iq1Refit(xb, weight[:], index[:], xxs[:], scale)
			}
			qs[2*ib] = uint8(index[0])
			qs[2*ib+1] = uint8(index[1])
			qh[ib] = uint8(index[0]>>8) | uint8(index[1]>>8)<<4
			scales[ib] = scale
			shifts[ib] = int8(choice)
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			continue
		}
		// The 3-bit block scales against d = max/15, then d itself refitted
		// to the stored points and scales.
		var sc [4]uint16
		d := maxScale / 15
		id := 1 / d
		var sumqx, sumq2 float32
		for ib := range 16 {
			l := gridLevel(id, scales[ib], 7)
			sc[ib/4] |= uint16(l) << (3 * (ib % 4))
			qh[ib] |= iq1mShiftBits[shifts[ib]&3]
			xb := x[16*ib : 16*ib+16]
			iq1mWeights(weight[:], qw, ibl*256+16*ib, xb, sigma2)
			m := float32(2*l + 1)
			for k := range 2 {
				xx := iq1mShift(shifts[ib], k)
				g := int(qs[2*ib+k]) + (int(qh[ib])<<(8-4*k))&0x700
				for j, lv := range s.levels[g*8 : g*8+8] {
					q := float32(xx[lv] * m)
					wq := float32(weight[8*k+j] * q)
					sumqx += float32(wq * xb[8*k+j])
					sumq2 += float32(wq * q)
				}
			}
		}
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		h := F32ToF16(float32(d * 1.1125))
		sc[0] |= (h & 0x000f) << 12
		sc[1] |= (h & 0x00f0) << 8
		sc[2] |= (h & 0x0f00) << 4
		sc[3] |= h & 0xf000
		for i, v := range sc {
			binary.LittleEndian.PutUint16(out[48+2*i:], v)
		}
	}
}

// iq1mWeights sets the weights of a 16-value block: from the importance
// weights when there are some, else x².
func iq1mWeights(weight, qw []float32, off int, xb []float32, sigma2 float32) {
	if qw != nil {
		importanceWeights(weight, xb[:len(weight)], qw[off:], sigma2)
		return
	}
	for i, v := range xb[:len(weight)] {
		weight[i] = v * v
	}
}

func dequantizeIQ1M(src []byte, dst []float32) {
	grid := iq1sLattice.decodeGrid()
	for i := range len(dst) / 256 {
		b := src[i*56 : i*56+56]
		y := dst[i*256 : i*256+256]
		var sc [4]uint16
		for j := range sc {
			sc[j] = binary.LittleEndian.Uint16(b[48+2*j:])
		}
		d := F16ToF32(sc[0]>>12 | (sc[1]>>8)&0x00f0 | (sc[2]>>4)&0x0f00 | sc[3]&0xf000)
		qs, qh := b[0:32], b[32:48]
		for ib := range 8 {
			s := sc[ib/2] >> (6 * (ib % 2))
			dl := [2]float32{d * float32(2*(s&7)+1), d * float32(2*((s>>3)&7)+1)}
			h0, h1 := int(qh[2*ib]), int(qh[2*ib+1])
			gi := [4]int{
				int(qs[4*ib]) | (h0<<8)&0x700, int(qs[4*ib+1]) | (h0<<4)&0x700,
				int(qs[4*ib+2]) | (h1<<8)&0x700, int(qs[4*ib+3]) | (h1<<4)&0x700,
			}
			hb := [4]int{h0 & 0x08, h0 & 0x80, h1 & 0x08, h1 & 0x80}
			for l := range 4 {
				delta := float32(iq1Delta)
				if hb[l] != 0 {
					delta = -iq1Delta
				}
				decodeShifted8(y[32*ib+8*l:], grid[gi[l]*8:], dl[l/2], delta)
			}
		}
	}
}
