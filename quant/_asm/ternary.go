package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// ternaryTrits generates ternaryTritsAVX2: the trits lroundf(x·id)+1 of a
// block of 256 finite values whose scale d = 1/id is their largest
// magnitude. Then |x·id| ≤ 1 (up to rounding), so lroundf's result is 1
// where x·id ≥ 0.5, −1 where x·id ≤ −0.5 and 0 between: two comparisons
// of the float32 product, which ternaryTrits' scalar loop computes the same
// way.
func ternaryTrits() {
	TEXT("ternaryTritsAVX2", NOSPLIT, "func(x *[256]float32, id float32, t *[256]uint8)")
	Pragma("noescape")
	Doc("ternaryTritsAVX2 is ternaryTrits' loop for a block of finite values with a finite 1/d.")
	x := Mem{Base: Load(Param("x"), GP64())}
	t := Mem{Base: Load(Param("t"), GP64())}
	idv := YMM()
	VBROADCASTSS(NewParamAddr("id", 8), idv)
	perm := YMM()
	VMOVDQU(dwordOrder(), perm)
	n := GP64()
	MOVQ(U32(8), n)
	Label("group")
	var r [4]VecVirtual
	for h := range r {
		p, up, down := YMM(), YMM(), YMM()
		VMULPS(x.Offset(32*h), idv, p)
		VCMPPS(U8(0x1d), c32("half32", 0x3f000000), p, up)        // p ≥ 0.5
		VCMPPS(U8(0x12), c32("minusHalf32", 0xbf000000), p, down) // p ≤ −0.5
		r[h] = YMM()
		VMOVDQU(c32("one32", 1), r[h])
		VPSUBD(up, r[h], r[h])
		VPADDD(down, r[h], r[h])
	}
	w01, w23 := YMM(), YMM()
	VPACKSSDW(r[1], r[0], w01)
	VPACKSSDW(r[3], r[2], w23)
	VPACKUSWB(w23, w01, w01)
	VPERMD(w01, perm, w01)
	VMOVDQU(w01, t)
	ADDQ(U32(128), x.Base)
	ADDQ(U32(32), t.Base)
	DECQ(n)
	JNZ(LabelRef("group"))
	VZEROUPPER()
	RET()
}
