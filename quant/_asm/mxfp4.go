package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// mxfp4Codes generates mxfp4CodesAVX2: the 16 code bytes of one MXFP4 block
// whose scale is a normal power of two, as mxfp4Nearest finds them value
// by value. With f = |x|·2/d exact, the nearest magnitude's index is the
// number of midpoints 1, 3, 5, 7, 10, 14, 20 strictly below f (the lower
// level on an exact tie, as ggml's first-minimum search; a NaN compares
// below none and takes code 0), and a negative value takes the negative
// code of a non-zero magnitude.
func mxfp4Codes() {
	TEXT("mxfp4CodesAVX2", NOSPLIT, "func(x *[32]float32, inv2 float32, codes *[16]byte)")
	Pragma("noescape")
	Doc("mxfp4CodesAVX2 is mxfp4Nearest for the 32 values of a block, packed as quantizeMXFP4 packs them.")
	x := Mem{Base: Load(Param("x"), GP64())}
	inv := YMM()
	VBROADCASTSS(NewParamAddr("inv2", 8), inv)
	zero := YMM()
	VPXOR(zero, zero, zero)
	var c [4]VecVirtual
	for h := range c {
		u, f, k := YMM(), YMM(), YMM()
		VMOVUPS(x.Offset(32*h), u)
		VANDPS(absMask, u, f)
		VMULPS(inv, f, f)
		VPXOR(k, k, k)
		for _, m := range []float32{1, 3, 5, 7, 10, 14, 20} {
			t := YMM()
			// f > m, false for a NaN; the all-ones mask is −1.
			VCMPPS(U8(0x1e), c32(fmt.Sprintf("mxfp4Mid%g", m), math.Float32bits(m)), f, t)
			VPSUBD(t, k, k)
		}
		s, z := YMM(), YMM()
		VPSRLD(U8(28), u, s)
		VPAND(c32("eight32", 8), s, s)
		VPCMPEQD(zero, k, z)
		VPANDN(s, z, s) // the sign, unless the magnitude is zero
		VPOR(s, k, k)
		c[h] = k
	}
	// Byte j holds value j in its low nibble and value j+16 in its high one.
	VPSLLD(U8(4), c[2], c[2])
	VPSLLD(U8(4), c[3], c[3])
	VPOR(c[2], c[0], c[0])
	VPOR(c[3], c[1], c[1])
	w := YMM()
	VPACKUSDW(c[1], c[0], w)
	VPERMQ(U8(0xd8), w, w)
	hi := XMM()
	VEXTRACTI128(U8(1), w, hi)
	lo := w.AsX()
	VPACKUSWB(hi, lo, lo)
	VMOVDQU(lo, Mem{Base: Load(Param("codes"), GP64())})
	VZEROUPPER()
	RET()
}
