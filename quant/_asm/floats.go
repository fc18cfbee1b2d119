package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// packWords stores the low 16 bits of the sixteen int32 lanes of h0 (first)
// and h1 (values known to fit) as 32 bytes at dst.
func packWords(h0, h1 VecVirtual, dst Mem) {
	p := YMM()
	VPACKUSDW(h1, h0, p)
	VPERMQ(U8(0xd8), p, p)
	VMOVDQU(p, dst)
}

// f32Rows emits a loop over groups of 16 float32 of src, 2 output bytes
// per value, converting each 8-value half with conv.
func f32Rows(name, doc string, conv func(u VecVirtual) VecVirtual) {
	TEXT(name, NOSPLIT, "func(src []float32, dst []byte)")
	Doc(name + " " + doc)
	src := Mem{Base: Load(Param("src").Base(), GP64())}
	dst := Mem{Base: Load(Param("dst").Base(), GP64())}
	n := Load(Param("src").Len(), GP64())
	SHRQ(U8(4), n)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("group")
	var h [2]VecVirtual
	for k := range h {
		u := YMM()
		VMOVDQU(src.Offset(32*k), u)
		h[k] = conv(u)
	}
	packWords(h[0], h[1], dst)
	ADDQ(U32(64), src.Base)
	ADDQ(U32(32), dst.Base)
	DECQ(n)
	JNZ(LabelRef("group"))
	Label("done")
	VZEROUPPER()
	RET()
}

// toF16 is F32ToF16 on eight lanes: the normal, overflow and subnormal
// cases computed side by side and chosen by masks.
func toF16(u VecVirtual) VecVirtual {
	a := YMM()
	VPAND(absMask, u, a)
	// Normal: rebias and round away 13 mantissa bits, ties to even.
	r, t := YMM(), YMM()
	VPSUBD(c32("f16Rebias", 0x38000000), a, r)
	VPSRLD(U8(13), r, t)
	VPAND(c32("one32", 1), t, t)
	VPADDD(c32("f16Round", 0xfff), r, r)
	VPADDD(t, r, r)
	VPSRLD(U8(13), r, r)
	// |x| ≥ 2^16: Inf, or the quiet NaN.
	big, nan, inf := YMM(), YMM(), YMM()
	VPCMPGTD(c32("f16Big", 0x477fffff), a, big)
	VPCMPGTD(c32("f32Inf", 0x7f800000), a, nan)
	VMOVDQU(c32("f16Inf", 0x7c00), inf)
	VPBLENDVB(nan, c32("f16NaN", 0x7e00), inf, inf)
	VPBLENDVB(big, inf, r, r)
	// |x| < 2^-14: adding 0.5 rounds |x| to the binary16 subnormal step.
	sub, s := YMM(), YMM()
	VMOVDQU(c32("f16MinNormal", 0x38800000), sub)
	VPCMPGTD(a, sub, sub)
	VADDPS(c32("half32", 0x3f000000), a, s)
	VPSUBD(c32("half32", 0x3f000000), s, s)
	VPBLENDVB(sub, s, r, r)
	// The sign.
	VPSRLD(U8(16), u, t)
	VPAND(c32("f16Sign", 0x8000), t, t)
	VPOR(t, r, r)
	return r
}

// toBF16 is F32ToBF16 on eight lanes.
func toBF16(u VecVirtual) VecVirtual {
	a, nan := YMM(), YMM()
	VPAND(absMask, u, a)
	VPCMPGTD(c32("f32Inf", 0x7f800000), a, nan)
	r, t := YMM(), YMM()
	VPSRLD(U8(16), u, t)
	VPAND(c32("one32", 1), t, r)
	VPADDD(c32("bf16Round", 0x7fff), r, r)
	VPADDD(u, r, r)
	VPSRLD(U8(16), r, r)
	VPOR(c32("bf16Quiet", 64), t, t)
	VPBLENDVB(nan, t, r, r)
	return r
}

var consts = map[string]Mem{}

// c32 is the 32-byte constant holding v eight times, declared once.
func c32(name string, v uint32) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := splat32(name, v)
	consts[name] = m
	return m
}

// q8_0 is quantize_row_q8_0_ref: see legacy.go for ds and the blocks left
// to the scalar code (here: a zero or non-finite largest magnitude, or a
// scale that is zero or too small to invert).
func q8_0() {
	order := YMM()
	blockKernel("quantizeQ8_0AVX2", 34, 4, func() {
		perm := GLOBL("q8Order", RODATA|NOPTR)
		for i, v := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
			DATA(4*i, U32(v))
		}
		VMOVDQU(perm, order)
	}, func(src, dst, ds Mem) {
		x, _, amax := loadBlock(src)
		d := XMM()
		VDIVSS(f32const("q8Div", 127), amax, d)
		db := GP32()
		VMOVD(d, db)
		TESTL(db, db)
		JZ(LabelRef("exceptional"))
		VMOVSS(d, ds)
		id := XMM()
		VMOVSS(f32const("q8One", 1), id)
		VDIVSS(d, id, id)
		jumpIfInf(id, "exceptional")
		idv := YMM()
		VBROADCASTSS(id, idv)
		var q [4]VecVirtual
		for k := range q {
			// Round half away from zero: truncate, then step away when the
			// (exact) fraction is at least one half.
			p, r, f, s := YMM(), YMM(), YMM(), YMM()
			VMULPS(idv, x[k], p)
			VROUNDPS(U8(3), p, r)
			VSUBPS(r, p, f)
			VANDPS(absMask, f, f)
			VCMPPS(U8(0x0d), splatF32("q8Half", 0.5), f, f)
			VANDPS(c32("signMask", 0x80000000), p, s)
			VORPS(splatF32("q8Ones", 1), s, s)
			VANDPS(f, s, s)
			VADDPS(s, r, r)
			q[k] = YMM()
			VCVTTPS2DQ(r, q[k])
		}
		w0, w1, b := YMM(), YMM(), YMM()
		VPACKSSDW(q[1], q[0], w0)
		VPACKSSDW(q[3], q[2], w1)
		VPACKSSWB(w1, w0, b)
		VPERMD(b, order, b)
		VMOVDQU(b, dst.Offset(2))
	})
}

// bf16Rows512 is encodeBF16 in AVX-512: sixteen values a register, four
// registers a round. Each lane computes the 32-bit word whose high half is
// F32ToBF16's result (u + 0x7fff + bit 16 of u, or u with the quiet bit
// set when u is a NaN); one VPERMT2W then gathers the high halves of two
// registers, which saves the shift and the narrowing of each.
//
// VCVTNEPS2BF16 would be a single instruction but treats subnormal inputs
// as zero, where ggml keeps them, so it is not used.
func bf16Rows512() {
	TEXT("encodeBF16AVX512", NOSPLIT, "func(src []float32, dst []byte)")
	Doc("encodeBF16AVX512 is encodeBF16 for the first len(src)/16·16 values.")
	src := Mem{Base: Load(Param("src").Base(), GP64())}
	dst := Mem{Base: Load(Param("dst").Base(), GP64())}
	n := Load(Param("src").Len(), GP64())
	one, round, quiet, high := ZMM(), ZMM(), ZMM(), ZMM()
	VPBROADCASTD(c32("one32", 1), one)
	VPBROADCASTD(c32("bf16Round", 0x7fff), round)
	VPBROADCASTD(c32("bf16QuietWord", 0x00400000), quiet)
	highWords := GLOBL("bf16HighWords", RODATA|NOPTR)
	for i := range 32 {
		DATA(2*i, U16(2*i+1))
	}
	VMOVDQU32(highWords, high)
	// conv leaves in a fresh register the words for the sixteen values at m.
	conv := func(m Mem) VecVirtual {
		u, t, r := ZMM(), ZMM(), ZMM()
		k := K()
		VMOVDQU32(m, u)
		VPSRLD(U8(16), u, t)
		VPANDD(one, t, t)
		VPADDD(round, u, r)
		VPADDD(t, r, r)
		// Quiet and signalling NaNs.
		VFPCLASSPSZ(U8(0x81), u, k)
		VPORD(quiet, u, k, r)
		return r
	}
	sixtyFourThenSixteen(n, src, dst, func() {
		for h := range 2 {
			r0 := conv(src.Offset(128 * h))
			r1 := conv(src.Offset(128*h + 64))
			VPERMT2W(r1, high, r0)
			VMOVDQU32(r0, dst.Offset(64*h))
		}
	}, func() {
		r := conv(src)
		VPSRLD(U8(16), r, r)
		VPMOVDW(r, dst)
	})
}

// f16Rows512 is encodeF16 in AVX-512: VCVTPS2PH converts with IEEE
// round-to-nearest-even (imm8 0; Go leaves MXCSR's DAZ and FTZ clear),
// which is F32ToF16 for every value but NaN; a NaN lane is first replaced
// by the quiet NaN with x's sign and no other payload, which converts to
// F32ToF16's sign|0x7e00.
func f16Rows512() {
	TEXT("encodeF16AVX512", NOSPLIT, "func(src []float32, dst []byte)")
	Doc("encodeF16AVX512 is encodeF16 for the first len(src)/16·16 values.")
	src := Mem{Base: Load(Param("src").Base(), GP64())}
	dst := Mem{Base: Load(Param("dst").Base(), GP64())}
	n := Load(Param("src").Len(), GP64())
	sign, qnan := ZMM(), ZMM()
	VPBROADCASTD(c32("signMask", 0x80000000), sign)
	VPBROADCASTD(c32("f32QuietNaN", 0x7fc00000), qnan)
	// conv stores the words for the sixteen values at m to d.
	conv := func(m, d Mem) {
		u := ZMM()
		k := K()
		VMOVDQU32(m, u)
		VFPCLASSPSZ(U8(0x81), u, k)
		// (u & sign) | qnan in the NaN lanes.
		VPTERNLOGD(U8(0xea), qnan, sign, k, u)
		VCVTPS2PH(U8(0), u, d)
	}
	sixtyFourThenSixteen(n, src, dst, func() {
		for h := range 4 {
			conv(src.Offset(64*h), dst.Offset(32*h))
		}
	}, func() { conv(src, dst) })
}

// sixtyFourThenSixteen is the loop of the AVX-512 16-bit encoders over n
// float32 values at src to 2-byte values at dst: round converts sixty-four
// values, then group converts the remaining whole groups of sixteen one at
// a time; the rest is left to the Go code.
func sixtyFourThenSixteen(n Register, src, dst Mem, round, group func()) {
	groups := GP64()
	MOVQ(n, groups)
	SHRQ(U8(6), groups)
	JZ(LabelRef("tail"))
	Label("round")
	round()
	ADDQ(U32(256), src.Base)
	ADDQ(U32(128), dst.Base)
	DECQ(groups)
	JNZ(LabelRef("round"))
	Label("tail")
	ANDQ(U8(63), n)
	SHRQ(U8(4), n)
	JZ(LabelRef("done"))
	Label("group")
	group()
	ADDQ(U32(64), src.Base)
	ADDQ(U32(32), dst.Base)
	DECQ(n)
	JNZ(LabelRef("group"))
	Label("done")
	VZEROUPPER()
	RET()
}
