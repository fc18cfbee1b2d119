// Command rowpass generates the AVX2 kernels of a conversion's pass over
// each row besides quantization: BF16 decoding, the finiteness scan and
// the error metrics.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!purego")
	statsRow()
	decodeBF16()
	findNonFinite()
	Generate()
}

// decodeBF16 widens groups of 16 bfloat16 values to float32 by shifting
// each into the high half of a 32-bit lane.
func decodeBF16() {
	TEXT("decodeBF16AVX2", NOSPLIT, "func(src []byte, dst []float32)")
	Doc("decodeBF16AVX2 is decodeBF16 for the first len(dst)/16·16 values.")
	src := Load(Param("src").Base(), GP64())
	dst := Load(Param("dst").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	SHRQ(U8(4), n)
	TESTQ(n, n)
	JZ(LabelRef("bf16done"))
	Label("bf16group")
	for k := range 2 {
		v := YMM()
		VPMOVZXWD(Mem{Base: src, Disp: 16 * k}, v)
		VPSLLD(U8(16), v, v)
		VMOVDQU(v, Mem{Base: dst, Disp: 32 * k})
	}
	ADDQ(U8(32), src)
	ADDQ(U8(64), dst)
	DECQ(n)
	JNZ(LabelRef("bf16group"))
	Label("bf16done")
	VZEROUPPER()
	RET()
}

// findNonFinite scans groups of 16 values for an all-ones exponent.
func findNonFinite() {
	expo := GLOBL("expMask32", RODATA|NOPTR)
	DATA(0, U32(0x7f800000))
	TEXT("finiteGroupsAVX2", NOSPLIT, "func(src []float32) int")
	Doc("finiteGroupsAVX2 returns how many of the first len(src)/16·16 values",
		"of src lie in whole groups of 16 finite values, counted from the start:",
		"the first NaN or ±Inf, if any there, is at that index or in the 16 after.")
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	SHRQ(U8(4), n)
	done := GP64()
	XORQ(done, done)
	mask := YMM()
	VPBROADCASTD(expo, mask)
	TESTQ(n, n)
	JZ(LabelRef("scandone"))
	Label("scan")
	a, b := YMM(), YMM()
	VPAND(Mem{Base: src}, mask, a)
	VPAND(Mem{Base: src, Disp: 32}, mask, b)
	VPCMPEQD(mask, a, a)
	VPCMPEQD(mask, b, b)
	VPOR(b, a, a)
	VPTEST(a, a)
	JNZ(LabelRef("scandone"))
	ADDQ(U8(16), done)
	ADDQ(U8(64), src)
	DECQ(n)
	JNZ(LabelRef("scan"))
	Label("scandone")
	Store(done, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// statsRow emits statsRowAVX2.
func statsRow() {
	abs := GLOBL("statsAbs64", RODATA|NOPTR)
	DATA(0, U64(0x7fffffffffffffff))

	TEXT("statsRowAVX2", NOSPLIT, "func(w []float32, q []float32, act4 []float64, out *[13]float64)")
	Doc("statsRowAVX2 is addRowGo's arithmetic for a row of len(w) values and",
		"four probes interleaved in act4 (act4[4i+p] is probe p's value i),",
		"every float64 operation in Go's order, each on its own accumulator:",
		"out holds Σe², Σw², Σq², Σw·q, max|e|, then y and ye of the four probes.")
	w := Load(Param("w").Base(), GP64())
	q := Load(Param("q").Base(), GP64())
	x := Load(Param("act4").Base(), GP64())
	n := Load(Param("w").Len(), GP64())
	out := Mem{Base: Load(Param("out"), GP64())}

	sse, sw, sq, dot, mx := XMM(), XMM(), XMM(), XMM(), XMM()
	for _, r := range []VecVirtual{sse, sw, sq, dot, mx} {
		VXORPD(r, r, r)
	}
	y, ye := YMM(), YMM()
	VXORPD(y, y, y)
	VXORPD(ye, ye, ye)
	absMask := XMM()
	VMOVSD(abs, absMask)

	// Four values at a time: conversions, differences and products
	// elementwise, then every product added to its sum in order from a
	// stack copy, so each accumulator sees Go's sequence of additions.
	buf := AllocLocal(6 * 32)
	mxv := YMM()
	VXORPD(mxv, mxv, mxv)
	absv := YMM()
	VBROADCASTSD(abs, absv)
	quads := GP64()
	MOVQ(n, quads)
	SHRQ(U8(2), quads)
	ANDQ(U8(3), n)
	TESTQ(quads, quads)
	JZ(LabelRef("tail"))
	Label("quad")
	{
		a, b, e := YMM(), YMM(), YMM()
		VCVTPS2PD(Mem{Base: w}, a)
		VCVTPS2PD(Mem{Base: q}, b)
		VSUBPD(b, a, e)
		VMOVUPD(a, buf.Offset(0))
		VMOVUPD(e, buf.Offset(32))
		prods := [][2]VecVirtual{{e, e}, {a, a}, {b, b}, {b, a}}
		for k, pr := range prods {
			t := YMM()
			VMULPD(pr[0], pr[1], t)
			VMOVUPD(t, buf.Offset(64+32*k))
		}
		t := YMM()
		VANDPD(absv, e, t)
		VMAXPD(t, mxv, mxv)
		for j := range 4 {
			VADDSD(buf.Offset(64+8*j), sse, sse)
			VADDSD(buf.Offset(96+8*j), sw, sw)
			VADDSD(buf.Offset(128+8*j), sq, sq)
			VADDSD(buf.Offset(160+8*j), dot, dot)
			av, ev, xv, p := YMM(), YMM(), YMM(), YMM()
			VBROADCASTSD(buf.Offset(8*j), av)
			VBROADCASTSD(buf.Offset(32+8*j), ev)
			VMOVUPD(Mem{Base: x, Disp: 32 * j}, xv)
			VMULPD(xv, av, p)
			VADDPD(p, y, y)
			VMULPD(xv, ev, p)
			VADDPD(p, ye, ye)
		}
	}
	ADDQ(U8(16), w)
	ADDQ(U8(16), q)
	ADDQ(U32(128), x)
	DECQ(quads)
	JNZ(LabelRef("quad"))
	// The largest of the four lanes' maxima joins the scalar one.
	hi := XMM()
	VEXTRACTF128(U8(1), mxv, hi)
	VMAXPD(hi, mxv.AsX(), hi)
	VPERMILPD(U8(1), hi, mx)
	VMAXSD(hi, mx, mx)

	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("elem")
	a, b, e, t := XMM(), XMM(), XMM(), XMM()
	VCVTSS2SD(Mem{Base: w}, a, a)
	VCVTSS2SD(Mem{Base: q}, b, b)
	VSUBSD(b, a, e) // e = a - b
	VMULSD(e, e, t)
	VADDSD(t, sse, sse)
	VMULSD(a, a, t)
	VADDSD(t, sw, sw)
	VMULSD(b, b, t)
	VADDSD(t, sq, sq)
	VMULSD(b, a, t)
	VADDSD(t, dot, dot)
	VANDPD(absMask, e, t)
	VMAXSD(t, mx, mx) // the errors are finite: max(mx, |e|)

	av, ev, xv, p := YMM(), YMM(), YMM(), YMM()
	VBROADCASTSD(a, av)
	VBROADCASTSD(e, ev)
	VMOVUPD(Mem{Base: x}, xv)
	VMULPD(xv, av, p)
	VADDPD(p, y, y)
	VMULPD(xv, ev, p)
	VADDPD(p, ye, ye)

	ADDQ(U8(4), w)
	ADDQ(U8(4), q)
	ADDQ(U8(32), x)
	DECQ(n)
	JNZ(LabelRef("elem"))

	Label("done")
	VMOVSD(sse, out.Offset(0))
	VMOVSD(sw, out.Offset(8))
	VMOVSD(sq, out.Offset(16))
	VMOVSD(dot, out.Offset(24))
	VMOVSD(mx, out.Offset(32))
	VMOVUPD(y, out.Offset(40))
	VMOVUPD(ye, out.Offset(72))
	VZEROUPPER()
	RET()
}
