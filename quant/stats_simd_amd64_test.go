//go:build amd64 && !purego

package quant

import (
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// statsRowKernels are the SIMD error-metric kernels, and whether this CPU
// runs each.
var statsRowKernels = []struct {
	name string
	ok   bool
	f    func(w, q []float32, act []float64, out *[13][4]float64)
}{
	{"AVX2", cpu.X86.HasAVX2 && cpu.X86.HasFMA, statsRowAVX2},
	{"AVX-512", cpu.X86.HasAVX512F && cpu.X86.HasFMA, statsRowAVX512},
}

// Every error-metric kernel the CPU can run matches the portable pass, not
// only the one chosen at start-up.
func TestStatsRowKernels(t *testing.T) {
	for _, k := range statsRowKernels {
		t.Run(k.name, func(t *testing.T) {
			if !k.ok {
				t.Skip("not supported by this CPU")
			}
			saved := rowPass.statsRow
			defer func() { rowPass.statsRow = saved }()
			rowPass.statsRow = k.f
			testStatsRowSIMD(t)
		})
	}
}

func BenchmarkStatsRowKernels(b *testing.B) {
	const rowLen = 4096
	orig, deq := statsRows(rand.New(rand.NewPCG(1, 2)), rowLen*16, false)
	for _, k := range statsRowKernels {
		b.Run(k.name, func(b *testing.B) {
			if !k.ok {
				b.Skip("not supported by this CPU")
			}
			s := NewStats(rowLen, 4, 1)
			var out [13][4]float64
			b.SetBytes(int64(len(orig)) * 4)
			for b.Loop() {
				for r := 0; r < len(orig); r += rowLen {
					k.f(orig[r:r+rowLen], deq[r:r+rowLen], s.act, &out)
				}
			}
		})
	}
}
