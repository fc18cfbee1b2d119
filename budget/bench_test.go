package budget

import (
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkSolveMixtral8x7B plans 226 tensors of Mixtral-8x7B's sizes
// (96 expert tensors of 176M weights, 128 attention tensors, embedding and
// output) over 14 types for a 22 GB budget.
func BenchmarkSolveMixtral8x7B(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	bpws := []float64{2.625, 3.4375, 4.25, 4.5, 4.5, 5, 5.5, 5.5, 6, 6.5625, 8.5, 4.25, 4.5, 16}
	var items [][]Choice
	add := func(n int, elems int64) {
		for range n {
			var cs []Choice
			for _, bpw := range bpws {
				cs = append(cs, Choice{Bytes: int64(float64(elems) * bpw / 8), Damage: float64(elems) * math.Exp2(-2*bpw) * (1 + r.Float64())})
			}
			items = append(items, cs)
		}
	}
	add(96, 4096*14336*8)
	add(64, 4096*4096)
	add(64, 4096*1024)
	add(2, 4096*32000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Solve(items, 22e9); err != nil {
			b.Fatal(err)
		}
	}
}
