package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// statsPair returns a Stats that uses the SIMD row kernel and one that
// uses the portable pass, for the same probes.
func statsPair(t testing.TB, rowLen int, seed uint64) (simd, portable *Stats) {
	simd = NewStats(rowLen, 4, seed)
	if !simd.simd {
		t.Skip("no SIMD row kernel on this machine")
	}
	portable = simd.Fork()
	portable.simd = false
	return simd, portable
}

// sameStats reports whether a and b hold bit-identical accumulators.
func sameStats(t testing.TB, a, b *Stats) {
	t.Helper()
	ints := [][2]int64{{a.count, b.count}, {a.finite, b.finite}, {a.lost, b.lost}, {a.nanIn, b.nanIn},
		{a.infIn, b.infIn}, {a.nanOut, b.nanOut}, {a.infOut, b.infOut}}
	for i, p := range ints {
		if p[0] != p[1] {
			t.Fatalf("counter %d: SIMD %d, portable %d", i, p[0], p[1])
		}
	}
	floats := [][2]float64{{a.sse, b.sse}, {a.sumW2, b.sumW2}, {a.sumQ2, b.sumQ2}, {a.dot, b.dot},
		{a.maxE, b.maxE}, {a.sumY2, b.sumY2}, {a.sumYErr2, b.sumYErr2}}
	for i, p := range floats {
		if math.Float64bits(p[0]) != math.Float64bits(p[1]) {
			t.Fatalf("sum %d: SIMD %v, portable %v", i, p[0], p[1])
		}
	}
}

// statsRows fills rows of weights and a perturbed reconstruction; special
// sprinkles NaN, ±Inf and extreme finite values into both.
func statsRows(rng *rand.Rand, n int, special bool) (orig, deq []float32) {
	orig, deq = make([]float32, n), make([]float32, n)
	for i := range orig {
		orig[i] = float32(rng.NormFloat64() * 0.02)
		deq[i] = orig[i] + float32(rng.NormFloat64()*0.001)
		if special && rng.IntN(97) == 0 {
			vals := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32, 0, float32(math.Copysign(0, -1)), 1e-45}
			if rng.IntN(2) == 0 {
				orig[i] = vals[rng.IntN(len(vals))]
			} else {
				deq[i] = vals[rng.IntN(len(vals))]
			}
		}
	}
	return orig, deq
}

func TestStatsRowSIMDMatchesPortable(t *testing.T) { testStatsRowSIMD(t) }

func testStatsRowSIMD(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rowLen  int
		rows    int
		special bool
	}{
		{"one value", 1, 5, false},
		{"odd width", 37, 9, false},
		{"K-quant width", 256, 16, false},
		{"Mixtral width", 4096, 4, false},
		{"non-finite values", 256, 64, true},
		{"non-finite, wide", 4096, 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			simd, portable := statsPair(t, tc.rowLen, 7)
			rng := rand.New(rand.NewPCG(uint64(tc.rowLen), uint64(tc.rows)))
			orig, deq := statsRows(rng, tc.rowLen*tc.rows, tc.special)
			if err := simd.AddRows(orig, deq); err != nil {
				t.Fatal(err)
			}
			if err := portable.AddRows(orig, deq); err != nil {
				t.Fatal(err)
			}
			sameStats(t, simd, portable)
			if a, b := simd.Result(), portable.Result(); a != b {
				t.Fatalf("results differ:\nSIMD     %+v\nportable %+v", a, b)
			}
		})
	}
}

// The same check after SetActivations, whose vectors the kernel takes
// interleaved too.
func TestStatsRowSIMDActivations(t *testing.T) {
	const rowLen = 64
	simd, _ := statsPair(t, rowLen, 1)
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([][]float32, 4)
	for p := range xs {
		xs[p], _ = statsRows(rng, rowLen, false)
	}
	if err := simd.SetActivations(xs); err != nil {
		t.Fatal(err)
	}
	portable := simd.Fork()
	portable.simd = false
	orig, deq := statsRows(rng, rowLen*8, false)
	if err := simd.AddRows(orig, deq); err != nil {
		t.Fatal(err)
	}
	if err := portable.AddRows(orig, deq); err != nil {
		t.Fatal(err)
	}
	sameStats(t, simd, portable)
}

func FuzzStatsRowSIMD(f *testing.F) {
	f.Add(uint64(1), uint16(256), uint8(3), false)
	f.Add(uint64(2), uint16(5), uint8(1), true)
	f.Fuzz(func(t *testing.T, seed uint64, width uint16, rows uint8, special bool) {
		rowLen, n := int(width%2048)+1, int(rows%8)+1
		simd, portable := statsPair(t, rowLen, seed)
		orig, deq := statsRows(rand.New(rand.NewPCG(seed, 9)), rowLen*n, special)
		if err := simd.AddRows(orig, deq); err != nil {
			t.Fatal(err)
		}
		if err := portable.AddRows(orig, deq); err != nil {
			t.Fatal(err)
		}
		sameStats(t, simd, portable)
	})
}

func BenchmarkStatsRow(b *testing.B) {
	const rowLen = 4096
	rng := rand.New(rand.NewPCG(1, 2))
	orig, deq := statsRows(rng, rowLen*16, false)
	for _, tc := range []struct {
		name string
		simd bool
	}{{"portable", false}, {"simd", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := NewStats(rowLen, 4, 1)
			if !tc.simd {
				s.simd = false
			} else if !s.simd {
				b.Skip("no SIMD row kernel")
			}
			b.SetBytes(int64(len(orig)) * 4)
			for b.Loop() {
				if err := s.AddRows(orig, deq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
