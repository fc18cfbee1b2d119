package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// neighbourPaths are the neighbour searches the quantizers can run: the
// scalar loops, and the SIMD lanes where the CPU has them.
func neighbourPaths() []bool {
	if simdGridLanes {
		return []bool{false, true}
	}
	return []bool{false}
}

// useNeighbourPath makes the quantizers search neighbours on the SIMD
// lanes or not, and returns a function that restores the setting.
func useNeighbourPath(simd bool) (restore func()) {
	was := useGridLanes
	useGridLanes = simd
	return func() { useGridLanes = was }
}

// neighbourTestValue draws one value of a group, a weight or a scale:
// ordinary, level values (ties between neighbours), midpoints between
// levels, zeros, huge (overflowing errors), tiny, or infinite and NaN.
func neighbourTestValue(r *rand.Rand, kind int, scale float32) float32 {
	switch kind {
	case 0:
		return float32(math.Abs(r.NormFloat64()))
	case 1:
		return scale * float32(2*r.IntN(8)+1)
	case 2:
		return scale * float32(2*r.IntN(8))
	case 3:
		return 0
	case 4:
		return float32(r.NormFloat64() * 1e30)
	case 5:
		return float32(r.NormFloat64()) * 1e-40
	case 6:
		return [...]float32{float32(math.Inf(1)), float32(math.NaN()), math.MaxFloat32}[r.IntN(3)]
	default:
		return neighbourTestValue(r, r.IntN(6), scale)
	}
}

// The SIMD neighbour searches pick exactly the neighbour the scalar loops
// pick, on every lattice, for random and adversarial groups, weights and
// scales.
func TestNeighbourLanesMatchScalar(t *testing.T) {
	if !simdGridLanes {
		t.Skip("no SIMD neighbour search on this CPU")
	}
	r := rand.New(rand.NewPCG(13, 12))
	for _, l := range []*lattice{iq2xxsLattice, iq2xsLattice, iq2sLattice, iq1sLattice, iq3xxsLattice, iq3sLattice} {
		s := l.searchTables()
		var off []int
		for code := range s.index {
			if s.index[code] < 0 && l.inRange(code) {
				off = append(off, code)
			}
		}
		dim := l.dim
		for trial := range 40000 {
			code := off[r.IntN(len(off))]
			kind := trial % 8
			scale := float32(0.5)
			if trial%5 == 0 {
				scale = neighbourTestValue(r, kind, 1)
			}
			x := make([]float32, dim)
			w := make([]float32, dim)
			for i := range dim {
				x[i] = neighbourTestValue(r, kind, scale)
				w[i] = neighbourTestValue(r, (kind+trial/8)%8, 1)
				if trial%3 == 0 {
					w[i] = 1 // equal weights: more exact ties
				}
			}
			var v [8]float32
			for lv := range l.maxLevel + 1 {
				v[lv] = float32(scale * float32(2*lv+1))
			}
			search := func(simd bool) (int, []int8) {
				defer useNeighbourPath(simd)()
				L := make([]int8, dim)
				if dim == 4 {
					return s.bestNeighbour4(code, x, w, &v, L), L
				}
				return s.bestNeighbour8(code, x, w, &v, L), L
			}
			gs, Ls := search(false)
			gv, Lv := search(true)
			if gs != gv || !slices.Equal(Ls, Lv) {
				t.Fatalf("dim %d code %#x x %v w %v scale %v: SIMD picks %d %v, scalar %d %v", dim, code, x, w, scale, gv, Lv, gs, Ls)
			}
		}
	}
}

// Every IQ golden through both neighbour searches.
func TestIQGridGoldenEveryNeighbourPath(t *testing.T) {
	for _, simd := range neighbourPaths() {
		name := "scalar"
		if simd {
			name = "simd"
		}
		t.Run(name, func(t *testing.T) {
			t.Cleanup(useNeighbourPath(simd))
			TestIQGridGolden(t)
		})
	}
}

// The SIMD rounding of whole blocks to the grids gives the levels, codes
// and neighbours of the scalar rounding, group by group, also for inverse
// scales and values far outside nearestInt's range and NaN.
func TestGridRoundLanesMatchScalar(t *testing.T) {
	if !simdGridLanes {
		t.Skip("no SIMD grid rounding on this CPU")
	}
	r := rand.New(rand.NewPCG(4, 32))
	for _, f := range []*gridFit{&iq3xxsFit, &iq3sFit, &iq2xxsFit, &iq2xsFit, &iq2sFit} {
		s := f.lattice.searchTables()
		for trial := range 20000 {
			n := 32
			if f.lattice.dim == 8 && trial%2 == 0 {
				n = 16
			}
			kind := trial % 8
			id := float32(1 / 0.37)
			if trial%4 == 0 {
				id = neighbourTestValue(r, kind, 1)
			}
			var xval, waux [32]float32
			for i := range xval {
				xval[i] = neighbourTestValue(r, kind, 1/id)
				waux[i] = neighbourTestValue(r, (kind+trial/8)%8, 1)
			}
			which := r.Uint32() & (1<<(n/f.lattice.dim) - 1)
			var start [32]int8
			for i := range start {
				start[i] = int8(r.IntN(8))
			}
			round := func(simd bool) ([]int8, uint32) {
				defer useNeighbourPath(simd)()
				L := start
				on := f.roundGroups(s, xval[:n], waux[:n], id, 1/id, L[:n], which)
				return L[:n], on
			}
			Ls, ons := round(false)
			Lv, onv := round(true)
			if ons != onv || !slices.Equal(Ls, Lv) {
				t.Fatalf("id %v which %#x x %v: SIMD %v on %#x, scalar %v on %#x", id, which, xval, Lv, onv, Ls, ons)
			}
		}
	}
}

// IQ1_S's split search skipping batches on SIMD finds the split, shift and
// scale of the scalar search, also with ties, zero and huge weights.
func TestIQ1SplitLanesMatchScalar(t *testing.T) {
	if !simdGridLanes {
		t.Skip("no SIMD split search on this CPU")
	}
	r := rand.New(rand.NewPCG(1, 32))
	for trial := range 20000 {
		kind := trial % 8
		var xb, w [32]float32
		for i := range xb {
			xb[i] = neighbourTestValue(r, kind, 0.25)
			if r.IntN(2) == 0 {
				xb[i] = -xb[i]
			}
			w[i] = neighbourTestValue(r, (kind+trial/8)%8, 1)
			if trial%3 == 0 {
				w[i] = 1
			}
		}
		mx := absMax(xb[:])
		split := func(simd bool) [4]float32 {
			defer useNeighbourPath(simd)()
			var idx [32]int
			i1, i2, shift, scale := iq1sSplit(xb[:], w[:], &idx, mx)
			return [4]float32{float32(i1), float32(i2), float32(shift), scale}
		}
		s, v := split(false), split(true)
		if math.Float32bits(s[3]) != math.Float32bits(v[3]) || [3]float32(s[:3]) != [3]float32(v[:3]) {
			t.Fatalf("x %v w %v: SIMD split %v, scalar %v", xb, w, v, s)
		}
	}
}
