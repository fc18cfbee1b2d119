package budget

import (
	"errors"
	"fmt"
	"math"
)

// Choice is one candidate type of a tensor: its stored size and its
// expected damage.
type Choice struct {
	Bytes  int64
	Damage float64
}

// ErrTooSmall means even the smallest choice of every tensor exceeds the
// capacity.
var ErrTooSmall = errors.New("budget below the smallest possible file")

// dpWork bounds the dynamic programme's table (items × units) and its work
// (items × units × choices); with them a few hundred tensors are planned in
// well under a second.
const (
	dpCells = 3e7
	dpWork  = 1.2e8
)

// Solve picks one choice per item so that the sum of Bytes is at most
// capacity and the sum of Damage is least. It returns the index of the
// choice of every item. Items with a single choice are free to have it.
func Solve(items [][]Choice, capacity int64) ([]int, error) {
	pick := make([]int, len(items))
	var minTotal int64
	maxChoices := 1
	for i, cs := range items {
		if len(cs) == 0 {
			return nil, fmt.Errorf("item %d has no choice", i)
		}
		best := 0
		for k, c := range cs {
			if c.Bytes < 0 || math.IsNaN(c.Damage) {
				return nil, fmt.Errorf("item %d choice %d: bytes %d, damage %v", i, k, c.Bytes, c.Damage)
			}
			if c.Bytes < cs[best].Bytes || (c.Bytes == cs[best].Bytes && c.Damage < cs[best].Damage) {
				best = k
			}
		}
		pick[i] = best
		minTotal += cs[best].Bytes
		maxChoices = max(maxChoices, len(cs))
	}
	if minTotal > capacity {
		return nil, fmt.Errorf("%w: the smallest types need %d bytes, the budget allows %d", ErrTooSmall, minTotal, capacity)
	}
	if len(items) == 0 {
		return pick, nil
	}
	n := float64(len(items))
	units := int64(math.Min(dpCells/n, dpWork/(n*float64(maxChoices))))
	units = max(min(units, capacity), 1)
	unit := (capacity + units - 1) / units // bytes per unit, rounded up
	capUnits := int(capacity / unit)
	if w := dpFill(items, unit, capUnits); w != nil {
		copy(pick, w)
	}
	repair(items, pick, capacity)
	return pick, nil
}

// dpFill is the knapsack over sizes in units (rounded up, so a solution
// in units fits in bytes). It returns nil when no solution fits the
// rounded sizes, leaving the repair to work from the smallest choices.
func dpFill(items [][]Choice, unit int64, capUnits int) []int {
	inf := math.Inf(1)
	prev := make([]float64, capUnits+1) // least damage with at most u units used
	cur := make([]float64, capUnits+1)
	from := make([][]uint8, len(items)) // choice of item i at each u
	for i, cs := range items {
		from[i] = make([]uint8, capUnits+1)
		for u := range cur {
			cur[u] = inf
		}
		for k, c := range cs {
			w := int((c.Bytes + unit - 1) / unit)
			if w > capUnits {
				continue
			}
			for u := w; u <= capUnits; u++ {
				base := 0.0
				if i > 0 {
					base = prev[u-w]
				}
				if v := base + c.Damage; v < cur[u] {
					cur[u], from[i][u] = v, uint8(k)
				}
			}
		}
		prev, cur = cur, prev
	}
	if math.IsInf(prev[capUnits], 1) {
		return nil
	}
	pick := make([]int, len(items))
	u := capUnits
	for i := len(items) - 1; i >= 0; i-- {
		k := int(from[i][u])
		pick[i] = k
		u -= int((items[i][k].Bytes + unit - 1) / unit)
	}
	return pick
}

// repair spends the bytes the rounding left: while some switch of one
// item lowers the damage and still fits, take the one with the largest
// damage saved per byte added (or any saving that frees bytes).
func repair(items [][]Choice, pick []int, capacity int64) {
	var used int64
	for i, k := range pick {
		used += items[i][k].Bytes
	}
	for {
		bi, bk, bestRate := -1, -1, 0.0
		for i, cs := range items {
			c0 := cs[pick[i]]
			for k, c := range cs {
				saved := c0.Damage - c.Damage
				extra := c.Bytes - c0.Bytes
				if saved <= 0 || used+extra > capacity {
					continue
				}
				rate := math.Inf(1)
				if extra > 0 {
					rate = saved / float64(extra)
				}
				if rate > bestRate {
					bi, bk, bestRate = i, k, rate
				}
			}
		}
		if bi < 0 {
			return
		}
		used += items[bi][bk].Bytes - items[bi][pick[bi]].Bytes
		pick[bi] = bk
	}
}
