package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The legacy 32-value blocks (Q4_0, Q5_0, Q4_1, Q5_1, Q8_0), one block at
// a time in four AVX2 registers. The kernels write the codes (and Q5's
// high bits) of each block and store its float32 scale (and min) in ds;
// the header's float16 conversion stays in Go. A block whose scan could
// differ from the C loop's choice (NaN, Inf, zero extremes, a scale that is
// zero or too small to invert) gets the sentinel 0xffffffff in ds and
// nothing else: Go quantizes it with the scalar code.

// legacyType describes one legacy block layout and its quantizer.
type legacyType struct {
	name     string
	blockLen int // bytes per block
	qhOff    int // offset of the 32 high bits, or -1
	qsOff    int // offset of the codes
	bits     int // 4, 5 or 8
	// Symmetric types: d = signed absmax / div, q = trunc(x·id + add).
	// Asymmetric ones: d = (max − min) / div, q = trunc((x − min)·id + 0.5).
	asym     bool
	div, add float32
	clamp    int32 // upper clamp of q, 0 for none
}

// horizontal reduces the eight lanes of v with op into every lane of out.
func horizontal(v VecVirtual, op func(a, b, c Op)) VecVirtual {
	hi, lo := XMM(), XMM()
	VEXTRACTI128(U8(1), v, hi)
	op(hi, v.AsX(), lo)
	t := XMM()
	VPSHUFD(U8(0x4e), lo, t)
	op(t, lo, lo)
	VPSHUFD(U8(0xb1), lo, t)
	op(t, lo, lo)
	return lo
}

// jumpIfInf jumps to label when the float32 in the low lane of v is
// infinite (1/d of a tiny d; the scalar code settles those blocks).
func jumpIfInf(v VecVirtual, label string) {
	b := GP32()
	VMOVD(v, b)
	ANDL(U32(0x7fffffff), b)
	CMPL(b, U32(0x7f800000))
	JAE(LabelRef(label))
}

func f32const(name string, v float32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	DATA(0, U32(math.Float32bits(v)))
	return m
}

// blockKernel emits the frame of a legacy block kernel: the arguments,
// a loop over the len(src)/32 blocks that runs body on each (body jumps
// to "exceptional" to leave a block to the scalar code, or falls through
// to "next" having stored its scale), and the exits. Each block advances
// ds by dsStep bytes.
func blockKernel(name string, blockLen, dsStep int, setup func(), body func(src, dst, ds Mem)) {
	TEXT(name, NOSPLIT, "func(src []float32, dst []byte, ds []float32)")
	Doc(name + " writes the codes of len(src)/32 blocks to dst and their scales to ds; see legacy.go.")
	src := Mem{Base: Load(Param("src").Base(), GP64())}
	dst := Mem{Base: Load(Param("dst").Base(), GP64())}
	ds := Mem{Base: Load(Param("ds").Base(), GP64())}
	n := Load(Param("src").Len(), GP64())
	SHRQ(U8(5), n)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	setup()

	Label("block")
	body(src, dst, ds)
	JMP(LabelRef("next"))

	Label("exceptional")
	MOVL(U32(0xffffffff), ds)

	Label("next")
	ADDQ(U32(128), src.Base)
	ADDQ(U32(blockLen), dst.Base)
	ADDQ(U32(dsStep), ds.Base)
	DECQ(n)
	JNZ(LabelRef("block"))

	Label("done")
	VZEROUPPER()
	RET()
}

// loadBlock loads the 32 values at src into x, their magnitudes (as
// bits) into a, and leaves the largest magnitude in the low lane of mx,
// jumping to "exceptional" when it is 0 or not finite.
func loadBlock(src Mem) (x, a [4]VecVirtual, mx VecVirtual) {
	for k := range x {
		x[k], a[k] = YMM(), YMM()
		VMOVUPS(src.Offset(32*k), x[k])
		VPAND(absMask, x[k], a[k])
	}
	m, m2 := YMM(), YMM()
	VPMAXUD(a[1], a[0], m)
	VPMAXUD(a[3], a[2], m2)
	VPMAXUD(m2, m, m)
	mx = horizontal(m, func(p, q, r Op) { VPMAXUD(p, q, r) })
	bits := GP32()
	VMOVD(mx, bits)
	DECL(bits)
	CMPL(bits, U32(0x7f7fffff))
	JAE(LabelRef("exceptional"))
	return x, a, mx
}

func legacy(t legacyType) {
	dsStep := 4
	if t.asym {
		dsStep = 8
	}
	blockKernel(t.name, t.blockLen, dsStep, func() {}, func(src, dst, ds Mem) { legacyBlock(t, src, dst, ds) })
}

// legacyBlock quantizes one block of type t.
func legacyBlock(t legacyType, src, dst, ds Mem) {

	divC := f32const(t.name+"Div", t.div)
	one := f32const(t.name+"One", 1)
	var addC Mem
	if !t.asym {
		addC = splatF32(t.name+"Add", t.add)
	} else {
		addC = splatF32(t.name+"Half", 0.5)
	}
	var clampC Mem
	if t.clamp > 0 {
		clampC = splat32(t.name+"Clamp", uint32(t.clamp))
	}

	x, a, mx := loadBlock(src)
	d, id := XMM(), XMM()
	var lo VecVirtual // asymmetric: the block's min, broadcast
	if !t.asym {
		// The first element of largest magnitude, with its sign.
		m := YMM()
		VPBROADCASTD(mx, m)
		mask := GP32()
		XORL(mask, mask)
		for k := 3; k >= 0; k-- {
			e := YMM()
			VPCMPEQD(m, a[k], e)
			r := GP32()
			VMOVMSKPS(e, r)
			SHLL(U8(8), mask)
			ORL(r, mask)
		}
		idx := GP32()
		BSFL(mask, idx)
		VMOVSS(Mem{Base: src.Base, Index: idx.As64(), Scale: 4}, d)
		VDIVSS(divC, d, d)
	} else {
		vmin, vmax := YMM(), YMM()
		VMINPS(x[1], x[0], vmin)
		t2 := YMM()
		VMINPS(x[3], x[2], t2)
		VMINPS(t2, vmin, vmin)
		VMAXPS(x[1], x[0], vmax)
		VMAXPS(x[3], x[2], t2)
		VMAXPS(t2, vmax, vmax)
		mn := horizontal(vmin, func(p, q, r Op) { VMINPS(p, q, r) })
		mxv := horizontal(vmax, func(p, q, r Op) { VMAXPS(p, q, r) })
		// Exceptional when the min or the max is a zero (C keeps the first
		// of -0 and +0 it sees).
		for _, v := range []VecVirtual{mn, mxv} {
			b := GP32()
			VMOVD(v, b)
			ANDL(U32(0x7fffffff), b)
			JZ(LabelRef("exceptional"))
		}
		VSUBSS(mn, mxv, d)
		VDIVSS(divC, d, d)
		VMOVSS(mn, ds.Offset(4))
		lo = YMM()
		VBROADCASTSS(mn, lo)
	}
	// Exceptional when d is 0 or not finite.
	db := GP32()
	VMOVD(d, db)
	ANDL(U32(0x7fffffff), db)
	DECL(db)
	CMPL(db, U32(0x7f7fffff))
	JAE(LabelRef("exceptional"))
	VMOVSS(d, ds)
	VMOVSS(one, id)
	VDIVSS(d, id, id)
	jumpIfInf(id, "exceptional")
	idv := YMM()
	VBROADCASTSS(id, idv)

	var q [4]VecVirtual
	for k := range q {
		q[k] = YMM()
		if t.asym {
			VSUBPS(lo, x[k], q[k])
			VMULPS(idv, q[k], q[k])
		} else {
			VMULPS(idv, x[k], q[k])
		}
		VADDPS(addC, q[k], q[k])
		VCVTTPS2DQ(q[k], q[k])
		if t.clamp > 0 {
			VPMINSD(clampC, q[k], q[k])
		}
	}
	if t.bits == 5 {
		// Bit 4 of each code, to the sign bit, gathered 8 lanes at a time.
		qh := GP32()
		XORL(qh, qh)
		for k := 3; k >= 0; k-- {
			s := YMM()
			VPSLLD(U8(27), q[k], s)
			r := GP32()
			VMOVMSKPS(s, r)
			SHLL(U8(8), qh)
			ORL(r, qh)
		}
		MOVL(qh, dst.Offset(t.qhOff))
		nib := splat32(t.name+"Nibble", 15)
		for k := range q {
			VPAND(nib, q[k], q[k])
		}
	}
	// Byte j holds code j in its low nibble and code j+16 in its high one.
	for k := 0; k < 2; k++ {
		VPSLLD(U8(4), q[k+2], q[k+2])
		VPOR(q[k+2], q[k], q[k])
	}
	p := YMM()
	VPACKUSDW(q[1], q[0], p)
	VPERMQ(U8(0xd8), p, p)
	hi, out := XMM(), XMM()
	VEXTRACTI128(U8(1), p, hi)
	VPACKUSWB(hi, p.AsX(), out)
	VMOVDQU(out, dst.Offset(t.qsOff))
}

// splatF32 is the 32-byte constant holding v eight times, declared once.
func splatF32(name string, v float32) Mem { return c32(name, math.Float32bits(v)) }

var legacyTypes = []legacyType{
	{name: "quantizeQ4_0AVX2", blockLen: 18, qhOff: -1, qsOff: 2, bits: 4, div: -8, add: 8.5, clamp: 15},
	{name: "quantizeQ5_0AVX2", blockLen: 22, qhOff: 2, qsOff: 6, bits: 5, div: -16, add: 16.5, clamp: 31},
	{name: "quantizeQ4_1AVX2", blockLen: 20, qhOff: -1, qsOff: 4, bits: 4, asym: true, div: 15, clamp: 15},
	{name: "quantizeQ5_1AVX2", blockLen: 24, qhOff: 4, qsOff: 8, bits: 5, asym: true, div: 31},
}
