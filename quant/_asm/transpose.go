package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// squaresLanes loads the sixteen 16-value sub-blocks of a super-block into
// lanes (value i of sub-block j at 16·i+j) with the weights x² and x²·x
// of the unweighted Q3_K and Q6_K fits, and finds each sub-block's first
// value of largest magnitude (as bits; the caller settles blocks of zeros
// and NaNs).
func squaresLanes() {
	TEXT("squaresLanesAVX2", NOSPLIT, "func(x, tx, w, wx *[256]float32, mx *[16]float32)")
	Pragma("noescape")
	Doc("squaresLanesAVX2 is qxLanes.loadSquares for all sixteen lanes in AVX2.")
	x := Load(Param("x"), GP64())
	tx := Mem{Base: Load(Param("tx"), GP64())}
	w := Mem{Base: Load(Param("w"), GP64())}
	wx := Mem{Base: Load(Param("wx"), GP64())}
	idx := YMM()
	VMOVDQU(c32Seq("subBlockStarts", 0, 16), idx)
	amax := zeroHalves()
	for i := 0; i < 16; i++ {
		for h := 0; h < halves; h++ {
			// Loaded, not derived from themselves: the gather both reads and
			// writes them.
			mask, v, t := YMM(), YMM(), YMM()
			VMOVDQU(c32("allOnes", 0xffffffff), mask)
			VMOVDQU(c32("zero32", 0), v)
			VGATHERDPS(mask, Mem{Base: x, Index: idx, Scale: 4, Disp: 4 * (128*h + i)}, v)
			off := 64*i + 32*h
			VMOVUPS(v, tx.Offset(off))
			VMULPS(v, v, t)
			VMOVUPS(t, w.Offset(off))
			VMULPS(v, t, t)
			VMOVUPS(t, wx.Offset(off))
			VPAND(absMask, v, t)
			VPMAXUD(t, amax[h], amax[h])
		}
	}
	// The first value whose magnitude is the largest.
	mx := Mem{Base: Load(Param("mx"), GP64())}
	for h := 0; h < halves; h++ {
		found, res := YMM(), YMM()
		VPXOR(found, found, found)
		VPXOR(res, res, res)
		for i := 0; i < 16; i++ {
			v, eq := YMM(), YMM()
			VMOVUPS(tx.Offset(64*i+32*h), v)
			VPAND(absMask, v, eq)
			VPCMPEQD(amax[h], eq, eq)
			VPANDN(eq, found, eq) // eq and not found
			VPBLENDVB(eq, v, res, res)
			VPOR(eq, found, found)
		}
		VMOVUPS(res, mx.Offset(32*h))
	}
	VZEROUPPER()
	RET()
}

// c32Seq is the 32-byte constant of the eight int32 start, start+step, ….
func c32Seq(name string, start, step uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := uint32(0); i < 8; i++ {
		DATA(4*int(i), U32(start+step*i))
	}
	return m
}
