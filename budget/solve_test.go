package budget

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// bruteForce is the least damage of every combination that fits.
func bruteForce(items [][]Choice, capacity int64) float64 {
	best := math.Inf(1)
	var rec func(i int, bytes int64, dmg float64)
	rec = func(i int, bytes int64, dmg float64) {
		if bytes > capacity {
			return
		}
		if i == len(items) {
			best = min(best, dmg)
			return
		}
		for _, c := range items[i] {
			rec(i+1, bytes+c.Bytes, dmg+c.Damage)
		}
	}
	rec(0, 0, 0)
	return best
}

// Solve finds the optimum of small random instances (checked against every
// combination) and never exceeds the capacity.
func TestSolveMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		n := 1 + r.IntN(6)
		items := make([][]Choice, n)
		var lo, hi int64
		for i := range items {
			k := 1 + r.IntN(4)
			minB, maxB := int64(math.MaxInt64), int64(0)
			for range k {
				c := Choice{Bytes: 1 + r.Int64N(1000), Damage: r.Float64() * 100}
				items[i] = append(items[i], c)
				minB, maxB = min(minB, c.Bytes), max(maxB, c.Bytes)
			}
			lo, hi = lo+minB, hi+maxB
		}
		capacity := lo + r.Int64N(hi-lo+1)
		pick, err := Solve(items, capacity)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		var bytes int64
		var dmg float64
		for i, k := range pick {
			bytes += items[i][k].Bytes
			dmg += items[i][k].Damage
		}
		if bytes > capacity {
			t.Fatalf("trial %d: %d bytes over the capacity %d", trial, bytes, capacity)
		}
		if want := bruteForce(items, capacity); math.Abs(dmg-want) > 1e-9*max(1, want) {
			t.Errorf("trial %d: damage %v, optimum %v", trial, dmg, want)
		}
	}
}

// Large budgets are discretised; the answer still fits and spends nearly
// all of the budget on a many-item instance.
func TestSolveLargeFits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	items := make([][]Choice, 300)
	var hi int64
	for i := range items {
		size := int64(1e6 + r.IntN(3e8))
		for _, bpw := range []float64{2.6, 3.4, 4.25, 4.5, 5.5, 6.6, 8.5, 16} {
			items[i] = append(items[i], Choice{Bytes: int64(float64(size) * bpw / 8), Damage: float64(size) * math.Exp2(-2*bpw)})
		}
		hi += items[i][len(items[i])-1].Bytes
	}
	capacity := hi / 4
	pick, err := Solve(items, capacity)
	if err != nil {
		t.Fatal(err)
	}
	var bytes int64
	for i, k := range pick {
		bytes += items[i][k].Bytes
	}
	if bytes > capacity || float64(bytes) < 0.995*float64(capacity) {
		t.Errorf("%d bytes for a capacity of %d", bytes, capacity)
	}
}

func TestSolveTooSmall(t *testing.T) {
	items := [][]Choice{{{Bytes: 10, Damage: 1}, {Bytes: 20}}, {{Bytes: 5, Damage: 1}}}
	if _, err := Solve(items, 14); !errors.Is(err, ErrTooSmall) {
		t.Errorf("got %v, want ErrTooSmall", err)
	}
	pick, err := Solve(items, 15)
	if err != nil || pick[0] != 0 {
		t.Errorf("capacity 15: %v %v", pick, err)
	}
	pick, err = Solve(items, 25)
	if err != nil || pick[0] != 1 {
		t.Errorf("capacity 25: %v %v", pick, err)
	}
}
