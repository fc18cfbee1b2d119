package quant

import (
	"math"
	"math/bits"
	"sync"
)

// The IQ2, IQ3 and IQ1 types store groups of 8 (or 4) values as an index
// into a fixed set of lattice points, the grid. Quantizing rounds a group
// to per-coordinate levels, packs those into a code, and looks the code up
// in a map: either the code is a grid point, or the map leads to the grid
// points nearest to it (ggml_quantize_init's neighbour lists), among which
// the quantizer picks the one with the least weighted error.
//
// A lattice is built from ggml's index lists (iq_grid_data.go) in two
// lazily run stages: the decoding grid, needed to read a type, and the
// code map with the neighbour lists, needed only to write it.

type lattice struct {
	codes     []uint16 // ggml's index list: levels packed per grid point
	dim       int      // coordinates per grid point: 8 or 4
	levelBits int      // bits per level in a code: 2 or 3
	maxLevel  int      // levels the quantizers produce: 0..maxLevel
	nwant     int      // how many distinct distances make up a neighbour list
	values    []float32

	decodeOnce sync.Once
	decode     []float32 // dim values per grid point, as the dequantizers use them

	searchOnce sync.Once
	search     latticeSearch
}

// latticeSearch holds what the quantizers look up, as ggml_quantize_init
// builds it. Codes with a level above maxLevel are never looked up and
// are left out.
type latticeSearch struct {
	codes []uint16 // the lattice's codes, per grid point
	dim   int
	// levels holds the grid points as level indices, dim per point (the
	// quantizers see level l as the odd value 2·l+1).
	levels []int8
	// index maps a code to its grid point (≥ 0), or, for a code off the
	// grid, to -(1+o) where neighbours[o] is the count of its neighbours
	// and the grid indices follow, by distance and then index.
	index      []int32
	neighbours []uint16
	// neighbourCodes holds the codes of the points in neighbours.
	neighbourCodes []uint16
	// candidateLevels holds each neighbour list's levels for the SIMD
	// search, transposed: per batch of eight neighbours, dim rows of eight
	// bytes; listLevels[o] is where the list at neighbours[o] starts.
	candidateLevels []uint8
	listLevels      []int32
}

var (
	// The 2-bit grids: levels 0, 1, 2 decode to 8, 25 and 43 (ggml-common.h's
	// iq2xxs_grid, iq2xs_grid and iq2s_grid hold these bytes).
	iq2xxsLattice = &lattice{codes: iq2xxsCodes[:], dim: 8, levelBits: 2, maxLevel: 2, nwant: 2, values: []float32{8, 25, 43}}
	iq2xsLattice  = &lattice{codes: iq2xsCodes[:], dim: 8, levelBits: 2, maxLevel: 2, nwant: 2, values: []float32{8, 25, 43}}
	iq2sLattice   = &lattice{codes: iq2sCodes[:], dim: 8, levelBits: 2, maxLevel: 2, nwant: 1, values: []float32{8, 25, 43}}
	// The ternary grid of IQ1_S and IQ1_M decodes to -1, 0, 1 (iq1s_grid).
	iq1sLattice = &lattice{codes: iq1sCodes[:], dim: 8, levelBits: 2, maxLevel: 2, nwant: 3, values: []float32{-1, 0, 1}}
	// The 3-bit grids (iq3xxs_grid and iq3s_grid).
	iq3xxsLattice = &lattice{codes: iq3xxsCodes[:], dim: 4, levelBits: 3, maxLevel: 7, nwant: 2, values: []float32{4, 12, 20, 28, 36, 44, 52, 62}}
	iq3sLattice   = &lattice{codes: iq3sCodes[:], dim: 4, levelBits: 3, maxLevel: 7, nwant: 3, values: []float32{1, 3, 5, 7, 9, 11, 13, 15}}
)

func (l *lattice) level(code uint16, i int) int {
	return int(code>>(l.levelBits*i)) & (1<<l.levelBits - 1)
}

// decodeGrid returns the decoded grid: point g's values are
// [g*dim : (g+1)*dim].
func (l *lattice) decodeGrid() []float32 {
	l.decodeOnce.Do(func() {
		d := make([]float32, len(l.codes)*l.dim)
		for g, c := range l.codes {
			for i := range l.dim {
				d[g*l.dim+i] = l.values[l.level(c, i)]
			}
		}
		l.decode = d
	})
	return l.decode
}

// searchTables returns the quantizer's tables, building them on first use.
func (l *lattice) searchTables() *latticeSearch {
	l.searchOnce.Do(l.buildSearch)
	return &l.search
}

func (l *lattice) buildSearch() {
	n, dim := len(l.codes), l.dim
	s := &l.search
	s.codes, s.dim = l.codes, dim
	levels := make([]int8, n*dim)
	s.levels = levels
	s.index = make([]int32, 1<<(l.levelBits*dim))
	for i := range s.index {
		s.index[i] = -1
	}
	for g, c := range l.codes {
		for i := range dim {
			lv := l.level(c, i)
			levels[g*dim+i] = int8(lv)
		}
		s.index[c] = int32(g)
	}

	// Squared distances between odd coordinates are 4·Σ(Δlevel)², so the
	// levels alone order the grid points. Each code is split into two
	// halves and the distance read from a table of half-code distances.
	// Distances are small integers, which lets the (distance, index) order
	// of ggml's sort be produced by walking the distances in ascending
	// order.
	halfBits := l.levelBits * dim / 2
	half := 1 << halfBits
	halfMask := half - 1
	halfDist := make([]uint8, half*half)
	for a := range half {
		for b := range half {
			d := 0
			for i := range dim / 2 {
				e := l.level(uint16(a), i) - l.level(uint16(b), i)
				d += e * e
			}
			halfDist[a*half+b] = uint8(d)
		}
	}
	dist := make([]uint8, n)
	maxDist := dim * l.maxLevel * l.maxLevel
	counts := make([]int, maxDist+1)
	for code := range s.index {
		if s.index[code] >= 0 || !l.inRange(code) {
			continue
		}
		lo := halfDist[(code&halfMask)*half:][:half]
		hi := halfDist[(code>>halfBits)*half:][:half]
		clear(counts)
		for g, c := range l.codes {
			d := lo[int(c)&halfMask] + hi[int(c)>>halfBits]
			dist[g] = d
			counts[d]++
		}
		s.index[code] = -int32(len(s.neighbours)) - 1
		countAt := len(s.neighbours)
		s.neighbours = append(s.neighbours, 0)
		have := 0
		for d := 0; d <= maxDist && have < l.nwant; d++ {
			if counts[d] == 0 {
				continue
			}
			have++
			for g := range n {
				if int(dist[g]) == d {
					s.neighbours = append(s.neighbours, uint16(g))
				}
			}
		}
		s.neighbours[countAt] = uint16(len(s.neighbours) - countAt - 1)
	}
	s.neighbourCodes = make([]uint16, len(s.neighbours))
	for o := 0; o < len(s.neighbours); o += 1 + int(s.neighbours[o]) {
		for j, g := range s.neighbours[o+1 : o+1+int(s.neighbours[o])] {
			s.neighbourCodes[o+1+j] = l.codes[g]
		}
	}
	s.listLevels = make([]int32, len(s.neighbours))
	for o := 0; o < len(s.neighbours); o += 1 + int(s.neighbours[o]) {
		s.listLevels[o] = int32(len(s.candidateLevels))
		nb := s.neighbours[o+1 : o+1+int(s.neighbours[o])]
		batch := make([]uint8, (len(nb)+7)/8*8*dim)
		for j, g := range nb {
			for i := range dim {
				batch[(j/8*dim+i)*8+j%8] = uint8(levels[int(g)*dim+i])
			}
		}
		s.candidateLevels = append(s.candidateLevels, batch...)
	}
}

// inRange reports whether every level of code is at most maxLevel.
func (l *lattice) inRange(code int) bool {
	for i := range l.dim {
		if l.level(uint16(code), i) > l.maxLevel {
			return false
		}
	}
	return true
}

// neighbourLists returns the grid points near an off-grid code and their
// codes.
func (s *latticeSearch) neighbourLists(code int) (points, codes []uint16) {
	o := -int(s.index[code]) - 1
	n := int(s.neighbours[o])
	return s.neighbours[o+1 : o+1+n], s.neighbourCodes[o+1 : o+1+n]
}

// neighbourLevels returns the transposed levels of an off-grid code's
// neighbours (see candidateLevels).
func (s *latticeSearch) neighbourLevels(code int) []uint8 {
	o := -int(s.index[code]) - 1
	n := int(s.neighbours[o])
	start := int(s.listLevels[o])
	return s.candidateLevels[start : start+(n+7)/8*8*s.dim]
}

// useGridLanes selects the SIMD kernels of the grid quantizers (rounding,
// neighbour searches, IQ1_S's split search) when the CPU has them; tests
// switch it to cover both paths.
var useGridLanes = simdGridLanes

// bestNeighbour4 is iq3_find_best_neighbour: the neighbour g of an
// off-grid code minimising Σ w·(v[level_g] − x)², where v holds the level
// values times the scale, the first on ties. It writes g's levels to L.
// When every error is infinite or NaN ggml aborts; mxq takes the first
// neighbour.
func (s *latticeSearch) bestNeighbour4(code int, x, w []float32, v *[8]float32, L []int8) int {
	x, w = x[:4], w[:4]
	best := float32(math.MaxFloat32)
	nb, nc := s.neighbourLists(code)
	bestG := int(nb[0])
	if len(nb) == 1 {
		nc = nil // the only candidate, whatever its error
	}
	// The SIMD search tries eight neighbours at a time, each lane adding
	// the same terms in the same order, and keeps the first minimum.
	if useGridLanes && len(nc) > 1 {
		bestG = int(nb[neighbourLanes4(v, (*[4]float32)(x), (*[4]float32)(w), s.neighbourLevels(code), len(nc))])
		nc = nil
	}
	// Go does not hoist loads out of loops: the group goes to locals.
	x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
	w0, w1, w2, w3 := w[0], w[1], w[2], w[3]
	for j, c := range nc {
		diff := v[c&7] - x0
		d2 := float32(float32(w0*diff) * diff)
		diff = v[c>>3&7] - x1
		d2 += float32(float32(w1*diff) * diff)
		diff = v[c>>6&7] - x2
		d2 += float32(float32(w2*diff) * diff)
		diff = v[c>>9&7] - x3
		d2 += float32(float32(w3*diff) * diff)
		if d2 < best {
			best, bestG = d2, int(nb[j])
		}
	}
	copy(L[:4], s.levels[bestG*4:bestG*4+4])
	return bestG
}

// bestNeighbour8 is iq2_find_best_neighbour for the 8-value grids, whose
// levels take the values v (already multiplied by the scale): the neighbour minimising
// Σ w·(v[level] − x)², the first on ties; with every error infinite or
// NaN, the first neighbour. Each of the 24 coordinate-level terms is
// computed once, as ggml computes it for every neighbour, and each
// neighbour's error adds its eight terms in ggml's order.
func (s *latticeSearch) bestNeighbour8(code int, x, w []float32, v *[8]float32, L []int8) int {
	x, w = x[:8], w[:8]
	nb, nc := s.neighbourLists(code)
	bestG := int(nb[0])
	// As in bestNeighbour4, eight neighbours at a time on SIMD lanes.
	if useGridLanes && len(nc) > 1 {
		bestG = int(nb[neighbourLanes8(v, (*[8]float32)(x), (*[8]float32)(w), s.neighbourLevels(code), len(nc))])
		copy(L[:8], s.levels[bestG*8:bestG*8+8])
		return bestG
	}
	var t [8][4]float32
	for i, xi := range x {
		for l, vl := range v[:3] {
			diff := vl - xi
			t[i][l] = float32(float32(w[i]*diff) * diff)
		}
	}
	best := float32(math.MaxFloat32)
	if len(nb) == 1 {
		nc = nil // the only candidate, whatever its error
	}
	for j, c := range nc {
		d2 := t[0][c&3]
		d2 += t[1][c>>2&3]
		d2 += t[2][c>>4&3]
		d2 += t[3][c>>6&3]
		d2 += t[4][c>>8&3]
		d2 += t[5][c>>10&3]
		d2 += t[6][c>>12&3]
		d2 += t[7][c>>14&3]
		if d2 < best {
			best, bestG = d2, int(nb[j])
		}
	}
	copy(L[:8], s.levels[bestG*8:bestG*8+8])
	return bestG
}

// signByte is ggml's ksigns_iq2xs[i]: the 7 stored sign bits plus an 8th
// that gives the byte even parity (the quantizers make the number of
// negative values in a group of 8 even).
func signByte(i uint8) uint8 {
	return i | uint8(bits.OnesCount8(i)&1)<<7
}

// foldSigns is the sign handling of IQ2_XXS, IQ2_XS and IQ3_XXS for one
// group of 8: xval gets the magnitudes and the returned bits mark the
// negative values. An odd count of negatives cannot be stored, so the
// value with the least weight·x² keeps the wrong sign (its xval is
// negated, its sign bit flipped).
func foldSigns(x, w, xval []float32) uint8 {
	x, w, xval = x[:8], w[:8], xval[:8]
	var s uint8
	for i, v := range x {
		if v >= 0 {
			xval[i] = v
		} else {
			xval[i] = -v
			s |= 1 << i
		}
	}
	if bits.OnesCount8(s)%2 == 1 {
		imin := 0
		mn := float32(float32(w[0]*x[0]) * x[0])
		for i := 1; i < 8; i++ {
			if a := float32(float32(w[i]*x[i]) * x[i]); a < mn {
				mn, imin = a, i
			}
		}
		xval[imin] = -xval[imin]
		s ^= 1 << imin
	}
	return s & 127
}

// superBlockSigma2 is Σx²/256 over a 256-value super-block, times two when
// double is set (ggml's sigma2 for the importance weights).
func superBlockSigma2(x []float32, double bool) float32 {
	var sumx2 float32
	for _, v := range x[:256] {
		sumx2 += float32(v * v)
	}
	if double {
		return float32(2*sumx2) / 256
	}
	return sumx2 / 256
}

// gridLevel is the quantizers' nearest_int(0.5·(id·x − 1)) clamped to
// [0, maxLevel]: the level whose odd value 2·l+1 is nearest id·x. The
// sub-block scales are encoded the same way, as 2·l+1 steps of d.
func gridLevel(id, x float32, maxLevel int32) int32 {
	return max(0, min(maxLevel, nearestInt(float32(0.5*(float32(id*x)-1)))))
}

// gridFit is the scale search shared by IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS
// and IQ3_S: for inverse scales id = (nmax + is·step)/divisor, is in
// [-steps, steps], round every group to the grid, keep the rounding with
// the best weighted least-squares fit (Σwxq)²/Σwq², and finally re-round
// the groups that were off the grid at the chosen scale.
type gridFit struct {
	lattice  *lattice
	maxLevel int32
	nmax     float32 // 2·kMaxQ − 1: the largest odd level
	steps    int
	step     float32
	// Whether groups start out marked as on the grid: a block for which no
	// scale improves on nothing keeps the marks (IQ3_S starts false).
	startOnGrid bool
	// Re-round every group in the final pass, not only the off-grid ones.
	refineAll bool
	// Run the final pass even when every group was on the grid (IQ2_XXS,
	// which does not track which groups were).
	alwaysRefine bool
}

// fit runs the search over one block of xval (magnitudes) with weights w
// and neighbour weights waux, starting from scale; L (the chosen levels)
// is kept from the previous block when no scale fits at all, as in ggml.
// Laux is scratch. It returns the block's scale.
func (f *gridFit) fit(s *latticeSearch, xval, w, waux []float32, L, Laux []int8, divisor, scale float32) float32 {
	groups := len(xval) / f.lattice.dim
	all := uint32(1)<<groups - 1
	onGrid := uint32(0)
	if f.startOnGrid {
		onGrid = all
	}
	// Every rounding is scored by Σ w·x·q and Σ w·q² over q = 2·L+1; the
	// terms of each value and level are the same for all scales.
	var t oddTerms
	t.build(w, xval, int(f.maxLevel))
	var best float32
	for is := -f.steps; is <= f.steps; is++ {
		id := (f.nmax + float32(float32(is)*f.step)) / divisor
		aux := f.roundGroups(s, xval, waux, id, 1/id, Laux, all)
		sumqx, sumq2 := t.sums(Laux)
		if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
			scale = sumqx / sumq2
			best = float32(scale * sumqx)
			copy(L, Laux)
			onGrid = aux
		}
	}
	if (f.alwaysRefine || onGrid != all) && scale > 0 {
		which := all
		if !f.refineAll {
			which = all &^ onGrid
		}
		f.roundGroups(s, xval, waux, 1/scale, scale, L, which)
		if sumqx, sumq2 := t.sums(L); sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	return scale
}

// oddTerms holds w·x·q and w·q² for each value of a block and each level
// (q = 2·level+1), each product rounded as ggml rounds it.
type oddTerms struct {
	x, q [32][8]float32
	n    int
}

func (t *oddTerms) build(w, xval []float32, maxLevel int) {
	t.n = len(w)
	xval = xval[:len(w)]
	for i, wi := range w {
		wx := float32(wi * xval[i])
		for l := 0; l <= maxLevel; l++ {
			q := float32(2*l + 1)
			t.x[i][l] = float32(wx * q)
			t.q[i][l] = float32(float32(wi*q) * q)
		}
	}
}

// sums returns Σ w·x·q and Σ w·q² for the levels L, which are those the
// grid quantizers produce, 0..maxLevel.
func (t *oddTerms) sums(L []int8) (sumqx, sumq2 float32) {
	L = L[:t.n]
	for i, l := range L {
		sumqx += t.x[i][l&7]
		sumq2 += t.q[i][l&7]
	}
	return sumqx, sumq2
}

// roundGroups rounds the groups marked in which to levels at inverse scale
// id, writing them to L; an off-grid result is replaced by the best
// neighbour at scale. It returns the groups whose rounding was on the
// grid. The 8-value grids have levels 0..2, the 4-value grids 0..7.
func (f *gridFit) roundGroups(s *latticeSearch, xval, waux []float32, id, scale float32, L []int8, which uint32) uint32 {
	if f.lattice.dim == 8 {
		return roundGroups8(s, xval, waux, id, scale, L, which)
	}
	return roundGroups4(s, xval, waux, id, scale, L, which)
}

func roundGroups8(s *latticeSearch, xval, waux []float32, id, scale float32, L []int8, which uint32) uint32 {
	// The values of the levels at this scale, shared by all neighbour
	// searches (ggml multiplies them out for every neighbour).
	v := [8]float32{scale, float32(scale * 3), float32(scale * 5)}
	on := uint32(0)
	if n := len(xval) / 8; useGridLanes && n <= 4 && n > 0 {
		var levels [32]int8
		var codes [4]int32
		gridRound8Lanes(xval[:8*n], id, levels[:8*n], codes[:n])
		for k, code := range codes[:n] {
			if which&(1<<k) == 0 {
				continue
			}
			lk := (*[8]int8)(L[8*k:])
			*lk = [8]int8(levels[8*k:])
			if s.index[code] >= 0 {
				on |= 1 << k
				continue
			}
			s.bestNeighbour8(int(code), xval[8*k:], waux[8*k:], &v, lk[:])
		}
		return on
	}
	for k := 0; which>>k != 0; k++ {
		if which&(1<<k) == 0 {
			continue
		}
		x, lk := (*[8]float32)(xval[8*k:]), (*[8]int8)(L[8*k:])
		code := 0
		for i, xi := range x {
			l := gridLevel(id, xi, 2)
			lk[i] = int8(l)
			code |= int(l) << (2 * i)
		}
		if s.index[code] >= 0 {
			on |= 1 << k
			continue
		}
		s.bestNeighbour8(code, x[:], waux[8*k:], &v, lk[:])
	}
	return on
}

func roundGroups4(s *latticeSearch, xval, waux []float32, id, scale float32, L []int8, which uint32) uint32 {
	var v [8]float32
	for l := range v {
		v[l] = float32(scale * float32(2*l+1))
	}
	on := uint32(0)
	if useGridLanes && len(xval) == 32 {
		var levels [32]int8
		var codes [8]int32
		gridRound4Lanes((*[32]float32)(xval), id, &levels, &codes)
		for k, code := range codes {
			if which&(1<<k) == 0 {
				continue
			}
			lk := (*[4]int8)(L[4*k:])
			*lk = [4]int8(levels[4*k:])
			if s.index[code&0xfff] >= 0 {
				on |= 1 << k
				continue
			}
			s.bestNeighbour4(int(code&0xfff), xval[4*k:], waux[4*k:], &v, lk[:])
		}
		return on
	}
	for k := 0; which>>k != 0; k++ {
		if which&(1<<k) == 0 {
			continue
		}
		x, lk := (*[4]float32)(xval[4*k:]), (*[4]int8)(L[4*k:])
		l0 := gridLevel(id, x[0], 7)
		l1 := gridLevel(id, x[1], 7)
		l2 := gridLevel(id, x[2], 7)
		l3 := gridLevel(id, x[3], 7)
		lk[0], lk[1], lk[2], lk[3] = int8(l0), int8(l1), int8(l2), int8(l3)
		code := int(l0) | int(l1)<<3 | int(l2)<<6 | int(l3)<<9
		if s.index[code&0xfff] >= 0 {
			on |= 1 << k
			continue
		}
		s.bestNeighbour4(code&0xfff, x[:], waux[4*k:], &v, lk[:])
	}
	return on
}

// gridIndex returns the grid point of a group's levels. The quantizers
// only produce grid points; ggml aborts otherwise (as IQ2_XXS can when a
// block's importance weights are all zero), and mxq stores point 0 instead.
func (f *gridFit) gridIndex(s *latticeSearch, L []int8) int {
	dim := f.lattice.dim
	code := 0
	for i, l := range L[:dim] {
		if l < 0 || int32(l) > f.maxLevel {
			return 0
		}
		code |= int(l) << (f.lattice.levelBits * i)
	}
	if g := s.index[code]; g >= 0 {
		return int(g)
	}
	return 0
}

// maxOf is ggml's running MAX over a block.
func maxOf(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		if !(m > v) {
			m = v
		}
	}
	return m
}

// negIf returns -v when neg is set: the dequantizers' multiplication by
// ±1, which is exact.
func negIf(v float32, neg bool) float32 {
	if neg {
		return -v
	}
	return v
}
