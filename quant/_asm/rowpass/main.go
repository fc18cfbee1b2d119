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
	statsRow512()
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

// statsAbs is four float64 absolute-value masks, set by statsRow.
var statsAbs Mem

// statsArgs loads the arguments of a stats row kernel: the row's and the
// quantized row's bases, their length rounded down to whole groups of
// four, the output, and the bases of the four probes stored back to back
// in act.
func statsArgs() (w, q, n Register, out Mem, xs [4]Register) {
	w = Load(Param("w").Base(), GP64())
	q = Load(Param("q").Base(), GP64())
	n = Load(Param("w").Len(), GP64())
	out = Mem{Base: Load(Param("out"), GP64())}
	xs[0] = Load(Param("act").Base(), GP64())
	stride := GP64()
	MOVQ(n, stride)
	SHLQ(U8(3), stride)
	for p := 1; p < 4; p++ {
		xs[p] = GP64()
		LEAQ(Mem{Base: xs[p-1], Index: stride, Scale: 1}, xs[p])
	}
	ANDQ(I32(-4), n)
	return w, q, n, out, xs
}

// statsLoop emits the loop of both stats kernels over the n values of w
// and q, four at a time: i indexes them, and body gets them widened to
// float64 (a from w, b from q) and their difference e = a − b.
func statsLoop(name string, w, q, n Register, body func(i Register, a, b, e VecVirtual)) {
	i := GP64()
	XORQ(i, i)
	TESTQ(n, n)
	JZ(LabelRef(name + "done"))
	Label(name + "quad")
	a, b, e := YMM(), YMM(), YMM()
	VCVTPS2PD(Mem{Base: w, Index: i, Scale: 4}, a)
	VCVTPS2PD(Mem{Base: q, Index: i, Scale: 4}, b)
	VSUBPD(b, a, e)
	body(i, a, b, e)
	ADDQ(U8(4), i)
	CMPQ(i, n)
	JB(LabelRef(name + "quad"))
	Label(name + "done")
}

// statsRow emits statsRowAVX2.
func statsRow() {
	abs := GLOBL("statsAbs64", RODATA|NOPTR)
	statsAbs = abs
	for k := range 4 {
		DATA(8*k, U64(0x7fffffffffffffff))
	}

	TEXT("statsRowAVX2", NOSPLIT, "func(w []float32, q []float32, act []float64, out *[13][4]float64)")
	Doc("statsRowAVX2 is addRowGo's arithmetic on the first len(w)/4·4 values",
		"of a row and four probes stored back to back in act (probe p's value i",
		"at act[p·len(w)+i]): value i goes to lane i%4 of every sum, each lane",
		"fused-multiply-adding in order. out holds the four lanes of Σe², Σw²,",
		"Σq², Σw·q, max|e|, then of y and of ye for each probe.")
	w, q, n, out, xs := statsArgs()

	// Thirteen accumulators and three temporaries fill the sixteen
	// registers: the probes and the absolute-value mask stay in memory.
	acc := make([]VecVirtual, 13)
	for k := range acc {
		acc[k] = YMM()
		VXORPD(acc[k], acc[k], acc[k])
	}
	sse, sw, sq, dot, mx := acc[0], acc[1], acc[2], acc[3], acc[4]
	statsLoop("stats", w, q, n, func(i Register, a, b, e VecVirtual) {
		VFMADD231PD(e, e, sse)
		VFMADD231PD(a, a, sw)
		VFMADD231PD(b, b, sq)
		VFMADD231PD(b, a, dot)
		VANDPD(abs, e, b)
		VMAXPD(b, mx, mx)
		// b is free again: it holds each probe's values in turn, loaded
		// once for both of their products.
		for p := range 4 {
			VMOVUPD(Mem{Base: xs[p], Index: i, Scale: 8}, b)
			VFMADD231PD(b, a, acc[5+p])
			VFMADD231PD(b, e, acc[9+p])
		}
	})
	for k, r := range acc {
		VMOVUPD(r, out.Offset(32*k))
	}
	VZEROUPPER()
	RET()
}

// statsRow512 emits statsRowAVX512: statsRowAVX2's lanes, two sums to a
// 512-bit register, so each fused multiply-add does two of its steps.
func statsRow512() {
	TEXT("statsRowAVX512", NOSPLIT, "func(w []float32, q []float32, act []float64, out *[13][4]float64)")
	Doc("statsRowAVX512 is statsRowAVX2, bit for bit: every sum keeps its four",
		"lanes and their order of fused multiply-adds, but pairs of sums share",
		"a register (Σe² with Σw², Σq² with Σw·q, each probe's ye with its y).")
	w, q, n, out, xs := statsArgs()

	// Low half, high half: e², w² | q², w·q | ye, y of each probe.
	e2w2, q2wq := ZMM(), ZMM()
	var yey [4]VecVirtual
	for p := range yey {
		yey[p] = ZMM()
	}
	for _, r := range append([]VecVirtual{e2w2, q2wq}, yey[:]...) {
		VPXORQ(r, r, r)
	}
	mx := YMM()
	VXORPD(mx, mx, mx)
	statsLoop("stats512", w, q, n, func(i Register, a, b, e VecVirtual) {
		ea, bb, ba := ZMM(), ZMM(), ZMM()
		VINSERTF64X4(U8(1), a, e.AsZ(), ea)
		VINSERTF64X4(U8(1), b, b.AsZ(), bb)
		VINSERTF64X4(U8(1), a, b.AsZ(), ba)
		VFMADD231PD(ea, ea, e2w2)
		VFMADD231PD(ba, bb, q2wq)
		for p := range 4 {
			x := ZMM()
			VBROADCASTF64X4(Mem{Base: xs[p], Index: i, Scale: 8}, x)
			VFMADD231PD(x, ea, yey[p])
		}
		VANDPD(statsAbs, e, e)
		VMAXPD(e, mx, mx)
	})
	store := func(r VecVirtual, lo, hi int) {
		VMOVUPD(r.AsY(), out.Offset(32*lo))
		VEXTRACTF64X4(U8(1), r, out.Offset(32*hi))
	}
	store(e2w2, 0, 1)
	store(q2wq, 2, 3)
	VMOVUPD(mx, out.Offset(32*4))
	for p := range 4 {
		store(yey[p], 9+p, 5+p)
	}
	VZEROUPPER()
	RET()
}
