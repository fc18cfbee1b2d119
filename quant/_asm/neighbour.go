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

// gridRound4 generates the rounding of a 32-value block to the 3-bit
// levels of the 4-value grids at inverse scale id: level =
// clamp(nearestInt(0.5·(id·x − 1)), 0, 7) per value, as gridLevel
// computes it, and each group's code l0 | l1<<3 | l2<<6 | l3<<9.
func gridRound4() {
	TEXT("gridRound4AVX2", NOSPLIT, "func(x *[32]float32, id float32, levels *[32]int8, codes *[8]int32)")
	Pragma("noescape")
	Doc("gridRound4AVX2 rounds the eight groups of x to grid levels and codes, as roundGroups4 does one group.")
	x := Mem{Base: Load(Param("x"), GP64())}
	idv := YMM()
	VBROADCASTSS(NewParamAddr("id", 8), idv)
	var lv [4]VecVirtual
	for h := range lv {
		lv[h] = YMM()
		VMULPS(x.Offset(32*h), idv, lv[h])
		VSUBPS(c32("oneF32", math.Float32bits(1)), lv[h], lv[h])
		VMULPS(c32("half32", 0x3f000000), lv[h], lv[h])
		VADDPS(magic, lv[h], lv[h])
		VPAND(mantissa, lv[h], lv[h])
		VPSUBD(bias, lv[h], lv[h])
		VPMINSD(c32("seven32", 7), lv[h], lv[h])
		VPMAXSD(c32("zero32", 0), lv[h], lv[h])
	}
	// Groups are whole dwords of packed bytes: packing leaves them in the
	// order 0, 2, 4, 6 | 1, 3, 5, 7 within the halves, which the horizontal
	// additions of the codes share; one permutation restores both.
	perm := YMM()
	VMOVDQU(dwordOrder(), perm)
	p01, p23 := YMM(), YMM()
	VPACKSSDW(lv[1], lv[0], p01)
	VPACKSSDW(lv[3], lv[2], p23)
	VPACKUSWB(p23, p01, p01)
	VPERMD(p01, perm, p01)
	VMOVDQU(p01, Mem{Base: Load(Param("levels"), GP64())})

	shifts := GLOBL("levelShifts3", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(uint32(3*(i%4))))
	}
	for h := range lv {
		VPSLLVD(shifts, lv[h], lv[h])
	}
	// The shifted levels have disjoint bits: adding them is OR-ing them.
	VPHADDD(lv[1], lv[0], lv[0])
	VPHADDD(lv[3], lv[2], lv[2])
	VPHADDD(lv[2], lv[0], lv[0])
	VPERMD(lv[0], perm, lv[0])
	VMOVDQU(lv[0], Mem{Base: Load(Param("codes"), GP64())})
	VZEROUPPER()
	RET()
}

// gridRound8 generates the rounding of groups of 8 values to the 2-bit
// levels of the 8-value grids at inverse scale id: level =
// clamp(nearestInt(0.5·(id·x − 1)), 0, 2) per value, as gridLevel
// computes it, and each group's code Σ l_i<<2i.
func gridRound8() {
	TEXT("gridRound8AVX2", NOSPLIT, "func(x []float32, id float32, levels []int8, codes []int32)")
	Pragma("noescape")
	Doc("gridRound8AVX2 rounds the len(x)/8 groups of x to grid levels and codes, as roundGroups8 does one group.")
	x := Mem{Base: Load(Param("x").Base(), GP64())}
	groups := Load(Param("x").Len(), GP64())
	SHRQ(U8(3), groups)
	levels := Mem{Base: Load(Param("levels").Base(), GP64())}
	codes := Mem{Base: Load(Param("codes").Base(), GP64())}
	idv := YMM()
	VBROADCASTSS(NewParamAddr("id", 24), idv)
	shifts := GLOBL("levelShifts2", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(uint32(2*i)))
	}
	Label("gridRound8_group")
	l, hi, p := YMM(), XMM(), XMM()
	VMULPS(x, idv, l)
	VSUBPS(c32("oneF32", math.Float32bits(1)), l, l)
	VMULPS(c32("half32", 0x3f000000), l, l)
	VADDPS(magic, l, l)
	VPAND(mantissa, l, l)
	VPSUBD(bias, l, l)
	VPMINSD(c32("two32", 2), l, l)
	VPMAXSD(c32("zero32", 0), l, l)
	VEXTRACTI128(U8(1), l, hi)
	VPACKSSDW(hi, l.AsX(), p)
	VPACKUSWB(p, p, p)
	VMOVQ(p, levels)
	// The shifted levels have disjoint bits: adding them is OR-ing them.
	VPSLLVD(shifts, l, l)
	VEXTRACTI128(U8(1), l, hi)
	VPADDD(hi, l.AsX(), p)
	VPHADDD(p, p, p)
	VPHADDD(p, p, p)
	VMOVD(p, codes)
	ADDQ(U8(32), x.Base)
	ADDQ(U8(8), levels.Base)
	ADDQ(U8(4), codes.Base)
	DECQ(groups)
	JNZ(LabelRef("gridRound8_group"))
	VZEROUPPER()
	RET()
}

var dwordOrderMem *Mem

// dwordOrder is the VPERMD index that puts back in order the dwords of
// four registers of int32 lanes narrowed by two packs (VPACKSSDW, then
// VPACKUSWB or VPACKSSWB), which interleave the 128-bit halves: 0, 4, 1,
// 5, 2, 6, 3, 7. Declared once.
func dwordOrder() Mem {
	if dwordOrderMem == nil {
		m := GLOBL("groupOrder", RODATA|NOPTR)
		for i, g := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
			DATA(4*i, U32(g))
		}
		dwordOrderMem = &m
	}
	return *dwordOrderMem
}
