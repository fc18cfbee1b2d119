package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// lanePositions holds the int32 lane numbers 0..7.
var lanePositions Mem

// neighbourLanes generates the grid neighbour search of dim-value groups:
// eight candidate grid points side by side, one per float32 lane. Each
// coordinate's error w·(v[level] − x)² is computed once per level, in the
// scalar order (w·diff)·diff, and looked up with VPERMPS; a candidate's
// error adds its coordinates' terms in order, so every lane produces the
// scalar sum exactly. Per lane the first candidate with the least error
// below the start value (the largest finite float32) is kept, as the
// scalar loop keeps it, and the result is the first of the lanes' minima:
// the position of the scalar loop's pick, or 0 (the first candidate, the
// scalar fallback) when no error is below the start value.
//
// levels holds the candidates' levels transposed: per batch of eight
// candidates, dim rows of eight bytes. n ≥ 1 candidates are real; the
// rest of the last batch is ignored.
func neighbourLanes(dim int) {
	name := fmt.Sprintf("bestNeighbour%dAVX2", dim)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(v *[8]float32, x, w *[%d]float32, levels []uint8, n int) int", dim))
	Pragma("noescape")
	Doc(name + " is the candidate loop of bestNeighbour" + fmt.Sprint(dim) + " in AVX2.")
	vp := Mem{Base: Load(Param("v"), GP64())}
	xp := Mem{Base: Load(Param("x"), GP64())}
	wp := Mem{Base: Load(Param("w"), GP64())}
	lv := Mem{Base: Load(Param("levels").Base(), GP64())}
	n := Load(Param("n"), GP64())

	vals := YMM()
	VMOVUPS(vp, vals)
	terms := make([]VecVirtual, dim)
	for i := range terms {
		xb, wb, diff := YMM(), YMM(), YMM()
		VBROADCASTSS(xp.Offset(4*i), xb)
		VBROADCASTSS(wp.Offset(4*i), wb)
		VSUBPS(xb, vals, diff)
		terms[i] = YMM()
		VMULPS(diff, wb, terms[i])
		VMULPS(diff, terms[i], terms[i])
	}

	best, pos, bestPos, count := YMM(), YMM(), YMM(), YMM()
	VBROADCASTSS(c32("maxFloat32", math.Float32bits(math.MaxFloat32)), best)
	if lanePositions == (Mem{}) {
		lanePositions = c32Seq("lanePositions", 0, 1)
	}
	VMOVDQU(lanePositions, pos)
	VMOVDQU(pos, bestPos)
	VMOVQ(n, count.AsX())
	VPBROADCASTD(count.AsX(), count)
	batches := GP64()
	MOVQ(n, batches)
	ADDQ(U8(7), batches)
	SHRQ(U8(3), batches)
	eight := c32("eight32", 8)

	Label(name + "_batch")
	sum := YMM()
	for i := range terms {
		idx := YMM()
		VPMOVZXBD(lv.Offset(8*i), idx)
		if i == 0 {
			VPERMPS(terms[i], idx, sum)
			continue
		}
		VPERMPS(terms[i], idx, idx)
		VADDPS(idx, sum, sum)
	}
	less, valid := YMM(), YMM()
	VCMPPS(U8(1), best, sum, less) // sum < best, false for NaN
	VPCMPGTD(pos, count, valid)
	VPAND(valid, less, less)
	VBLENDVPS(less, sum, best, best)
	VBLENDVPS(less, pos, bestPos, bestPos)
	VPADDD(eight, pos, pos)
	ADDQ(U32(8*dim), lv.Base)
	DECQ(batches)
	JNZ(LabelRef(name + "_batch"))

	// The least error: no lane holds NaN, so VMINPS is exact.
	least, t := YMM(), YMM()
	VPERM2F128(U8(1), best, best, least)
	VMINPS(least, best, least)
	VPERMILPS(U8(0x4e), least, t)
	VMINPS(t, least, least)
	VPERMILPS(U8(0xb1), least, t)
	VMINPS(t, least, least)
	// The first position among the lanes holding it; lanes that never went
	// below the start value hold their lane number, so with none below it
	// the result is 0.
	eq := YMM()
	VCMPPS(U8(0), least, best, eq)
	VBROADCASTSS(c32("maxInt32", math.MaxInt32), t)
	VBLENDVPS(eq, bestPos, t, bestPos)
	VPERM2I128(U8(1), bestPos, bestPos, t)
	VPMINSD(t, bestPos, bestPos)
	VPSHUFD(U8(0x4e), bestPos, t)
	VPMINSD(t, bestPos, bestPos)
	VPSHUFD(U8(0xb1), bestPos, t)
	VPMINSD(t, bestPos, bestPos)
	ret := GP64()
	VMOVD(bestPos.AsX(), ret.As32()) // zero-extends: positions are ≥ 0
	Store(ret, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
