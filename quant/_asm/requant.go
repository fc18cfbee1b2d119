package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// requant is the last step of every K-quant: each 16-value group g of a
// super-block with sd[g] ≠ 0 is re-quantized against its stored scale,
// L = clamp(nearestInt((x + dm[g]) / sd[g]), lo, hi) + bias; groups with
// sd[g] = 0 keep their codes.
func requant(name, elem string) {
	TEXT(name, NOSPLIT, "func(x *[256]float32, sd, dm *[16]float32, bounds *[16]int32, bias int32, L *[256]"+elem+")")
	Pragma("noescape")
	Doc(name + " is requantizeGroupsGo in AVX2.")
	x := Mem{Base: Load(Param("x"), GP64())}
	sd := Mem{Base: Load(Param("sd"), GP64())}
	dm := Mem{Base: Load(Param("dm"), GP64())}
	bounds := Mem{Base: Load(Param("bounds"), GP64())}
	L := Mem{Base: Load(Param("L"), GP64())}
	b32 := Load(Param("bias"), GP32())
	bias, zero := YMM(), XMM()
	VMOVD(b32, bias.AsX())
	VPBROADCASTD(bias.AsX(), bias)
	VXORPS(zero, zero, zero)
	n := GP64()
	MOVQ(U32(16), n)
	Label("group")
	s := XMM()
	VMOVSS(sd, s)
	VUCOMISS(zero, s)
	JP(LabelRef("work")) // NaN: the scalar code goes on too
	JE(LabelRef("skip"))
	Label("work")
	S, M := YMM(), YMM()
	VBROADCASTSS(s, S)
	VBROADCASTSS(dm, M)
	var v [2]VecVirtual
	for h := range v {
		v[h] = YMM()
		VADDPS(x.Offset(32*h), M, v[h])
		VDIVPS(S, v[h], v[h])
		nearestClamped(v[h], bounds)
		VPADDD(bias, v[h], v[h])
	}
	p, hi := YMM(), XMM()
	VPACKSSDW(v[1], v[0], p)
	VPERMQ(U8(0xd8), p, p)
	VEXTRACTI128(U8(1), p, hi)
	VPACKUSWB(hi, p.AsX(), hi)
	VMOVDQU(hi, L)
	Label("skip")
	ADDQ(U32(64), x.Base)
	ADDQ(U32(4), sd.Base)
	ADDQ(U32(4), dm.Base)
	ADDQ(U32(16), L.Base)
	DECQ(n)
	JNZ(LabelRef("group"))
	VZEROUPPER()
	RET()
}
