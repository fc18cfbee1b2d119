package forward

import (
	"context"
	"sync"
)

// The matrix products of the forward pass multiply a chunk of tokens by a
// row-major weight matrix [out][in]. They are computed in tiles of
// tileRows tokens × tileCols output rows: each tile reads a panel of the
// weights, packed k-major so one load covers tileCols outputs, and a panel
// of the packed tokens, and keeps its tileRows·tileCols sums in registers.
//
// Every output y[t][o] is a float32 sum over the input index in a fixed
// order: the products over each panel of panelLen inputs are added one by
// one in input order (fused multiply-add where the CPU has it), and the
// panels' sums are added to the output in panel order. Which tokens share
// a tile, how many tokens the product covers and which goroutine runs a
// tile never change that order, so a token's result is the same bit for
// bit whatever else is in its batch and however many workers run.
const (
	tileRows = 12  // tokens per tile
	tileCols = 32  // output rows per tile
	panelLen = 256 // inputs per panel
)

// packedRows holds a chunk of token rows in tile layout: for each group of
// tileRows tokens, in[k] of each token interleaved ([group][k][tileRows]),
// padded with zero rows to whole groups.
type packedRows struct {
	rows, in int
	data     []float32
}

// packRows lays x ([T][in]) out for gemm.
func packRows(x [][]float32, in int) *packedRows { return packRowsInto(nil, x, in) }

// packRowsInto is packRows into buf's memory where it is large enough.
func packRowsInto(buf []float32, x [][]float32, in int) *packedRows {
	groups := (len(x) + tileRows - 1) / tileRows
	p := &packedRows{rows: len(x), in: in, data: reuse(buf, groups*in*tileRows)}
	for t, row := range x {
		g, r := t/tileRows, t%tileRows
		dst := p.data[g*in*tileRows:]
		for k, v := range row[:in] {
			dst[k*tileRows+r] = v
		}
	}
	return p
}

// reuse returns buf[:n] cleared, or a new slice if buf is too small.
func reuse[E float32 | uint32](buf []E, n int) []E {
	if cap(buf) < n {
		return make([]E, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// groups is the number of token groups.
func (p *packedRows) groups() int { return len(p.data) / (p.in * tileRows) }

// gemmScratch is one worker's packed weight panel (w, or wp in bfloat16
// pairs), its decoding scratch and the tile sums.
type gemmScratch struct {
	w, c, tmp []float32
	wp        []uint32
	view      rowView
}

var gemmScratchPool = sync.Pool{New: func() any { return new(gemmScratch) }}

// blockRun is how many blocks of tileCols outputs a worker takes at once,
// for out outputs on workers: up to maxBlockRun, so that its results go
// to each token's row as one run of consecutive values rather than as
// scattered pieces of tileCols, yet at least four runs per worker.
func blockRun(out, workers int) int {
	blocks := (out + tileCols - 1) / tileCols
	return max(1, min(maxBlockRun, blocks/(4*defaultWorkers(workers))))
}

const maxBlockRun = 32

// storeBlocks copies the sums of the blocks lo..hi-1 from c, one
// [groups·tileRows][tileCols] slab per block, to the rows of y.
func storeBlocks(y [][]float32, c []float32, out, lo, hi, slab int) {
	for t, row := range y {
		for b := lo; b < hi; b++ {
			o0 := b * tileCols
			cols := min(tileCols, out-o0)
			s := c[(b-lo)*slab+t*tileCols:]
			copy(row[o0:o0+cols], s[:cols])
		}
	}
}

// gemm sets y[t][o] = Σ_i w[o][i]·x[t][i] for the weight matrix w of
// shape [out][in] and the tokens packed in x. Each y[t] must have length
// out. Runs of blocks of tileCols output rows are spread over workers.
func gemm(ctx context.Context, w weightPanels, out, in int, x *packedRows, y [][]float32, workers int) {
	if x.rows == 0 || out == 0 {
		return
	}
	groups := x.groups()
	productBlocks(ctx, w, out, in, x.rows, groups, y, workers, func(s *gemmScratch, wb weightPanels, ob, cols, k0, kc int, c []float32) {
		if cap(s.w) < panelLen*tileCols {
			s.w = make([]float32, panelLen*tileCols)
		}
		wp := s.w[:kc*tileCols]
		wb.pack(wp, s.tmp, ob, cols, k0, kc)
		for g := range groups {
			xs := x.data[(g*in+k0)*tileRows : (g*in+k0+kc)*tileRows]
			tile(kc, xs, wp, c[g*tileRows*tileCols:(g+1)*tileRows*tileCols])
		}
	})
}

// productBlocks is the blocked product gemm and gemmBF16 share: runs of
// blocks of tileCols output rows spread over workers, each block's sums
// for the rows tokens (groups of tileRows) built from zero in the worker's
// slab, one panel of at most panelLen inputs at a time and in input order
// by panel (which packs the panel and runs the tiles), then stored to y.
func productBlocks(ctx context.Context, w weightPanels, out, in, rows, groups int, y [][]float32, workers int,
	panel func(s *gemmScratch, wb weightPanels, ob, cols, k0, kc int, c []float32)) {
	blocks := (out + tileCols - 1) / tileCols
	slab := groups * tileRows * tileCols
	parallelFor(ctx, blocks, blockRun(out, workers), workers, func(lo, hi int) {
		s := gemmScratchPool.Get().(*gemmScratch)
		defer gemmScratchPool.Put(s)
		if cap(s.tmp) < panelLen*tileCols {
			s.tmp = make([]float32, panelLen*tileCols)
		}
		if n := (hi - lo) * slab; cap(s.c) < n {
			s.c = make([]float32, n)
		}
		for b := lo; b < hi; b++ {
			o0 := b * tileCols
			cols := min(tileCols, out-o0)
			c := s.c[(b-lo)*slab : (b-lo+1)*slab]
			clear(c)
			wb, ob := s.view.block(w, o0, cols)
			for k0 := 0; k0 < in; k0 += panelLen {
				panel(s, wb, ob, cols, k0, min(panelLen, in-k0), c)
			}
		}
		storeBlocks(y[:rows], s.c, out, lo, hi, slab)
	})
}

// packRows8 and packRows8BF16, where the CPU has them, lay out 8 rows of
// a panel at once (see transpose8): row r of src at src + r·stride bytes,
// blocks·8 inputs each, into dst[k·tileCols + r].
var (
	packRows8     func(dst, src *float32, stride, blocks int)
	packRows8BF16 func(dst *float32, src *byte, stride, blocks int)
)

// packPanel copies w[o0:o0+cols][k0:k0+kc] into wp k-major
// ([kc][tileCols]), padding missing rows with zeros: 8 rows at a time
// where packRows8 exists, else four at a time so each pass writes whole
// lines of wp.
func packPanel(wp, w []float32, in, o0, cols, k0, kc int) {
	if cols < tileCols {
		clear(wp)
	}
	wp = wp[:kc*tileCols]
	j := 0
	if packRows8 != nil && kc%8 == 0 {
		for ; j+8 <= cols; j += 8 {
			src := w[(o0+j)*in+k0 : (o0+j+7)*in+k0+kc]
			packRows8(&wp[j], &src[0], 4*in, kc/8)
		}
	}
	for ; j+4 <= cols; j += 4 {
		base := (o0+j)*in + k0
		r0, r1, r2, r3 := w[base:base+kc], w[base+in:base+in+kc], w[base+2*in:base+2*in+kc], w[base+3*in:base+3*in+kc]
		for k := range kc {
			d := (*[4]float32)(wp[k*tileCols+j:])
			d[0], d[1], d[2], d[3] = r0[k], r1[k], r2[k], r3[k]
		}
	}
	for ; j < cols; j++ {
		row := w[(o0+j)*in+k0 : (o0+j)*in+k0+kc]
		for k, v := range row {
			wp[k*tileCols+j] = v
		}
	}
}

// tileGo is the portable tile kernel: c[r][j] += Σ_k x[k][r]·w[k][j] over
// one panel, summed in k order in float32 from zero. The conversion keeps
// the compiler from fusing the multiply and the add. One token and 16
// outputs at a time keep their sums in registers.
func tileGo(kc int, x, w, c []float32) {
	x, w = x[:kc*tileRows], w[:kc*tileCols]
	c = c[:tileRows*tileCols]
	for r := range tileRows {
		for j0 := 0; j0 < tileCols; j0 += 16 {
			var a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15 float32
			for k := range kc {
				xv := x[k*tileRows+r]
				wk := (*[16]float32)(w[k*tileCols+j0:])
				a0 += float32(xv * wk[0])
				a1 += float32(xv * wk[1])
				a2 += float32(xv * wk[2])
				a3 += float32(xv * wk[3])
				a4 += float32(xv * wk[4])
				a5 += float32(xv * wk[5])
				a6 += float32(xv * wk[6])
				a7 += float32(xv * wk[7])
				a8 += float32(xv * wk[8])
				a9 += float32(xv * wk[9])
				a10 += float32(xv * wk[10])
				a11 += float32(xv * wk[11])
				a12 += float32(xv * wk[12])
				a13 += float32(xv * wk[13])
				a14 += float32(xv * wk[14])
				a15 += float32(xv * wk[15])
			}
			cr := (*[16]float32)(c[r*tileCols+j0:])
			for j, a := range [16]float32{a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15} {
				cr[j] += a
			}
		}
	}
}
