// Command stats generates statsRowAVX2, the error-metric pass of one row.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!purego")
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
	Generate()
}
