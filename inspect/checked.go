package inspect

import (
	"math"
	"math/bits"
)

// sizes does byte arithmetic that cannot wrap: the first product or sum
// that would leave [0, MaxInt64] (or a negative operand) marks it
// overflowed, and every later result is 0. Callers check overflowed once
// at the end, so formulas stay readable.
type sizes struct {
	overflowed bool
}

// mul returns the product of xs.
func (s *sizes) mul(xs ...int64) int64 {
	p := uint64(1)
	for _, x := range xs {
		if x < 0 {
			s.overflowed = true
		}
		hi, lo := bits.Mul64(p, uint64(x))
		if hi != 0 || lo > math.MaxInt64 {
			s.overflowed = true
		}
		p = lo
	}
	if s.overflowed {
		return 0
	}
	return int64(p)
}

// add returns the sum of xs.
func (s *sizes) add(xs ...int64) int64 {
	var sum uint64
	for _, x := range xs {
		if x < 0 {
			s.overflowed = true
		}
		var carry uint64
		sum, carry = bits.Add64(sum, uint64(x), 0)
		if carry != 0 || sum > math.MaxInt64 {
			s.overflowed = true
		}
	}
	if s.overflowed {
		return 0
	}
	return int64(sum)
}
