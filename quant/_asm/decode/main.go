// Command decode generates the AVX2 and AVX-512 whole-block decoders of
// the types a forward pass multiplies in their stored format: Q4_K, Q5_K,
// Q6_K, Q8_0, Q4_0 and F16. Each kernel decodes len(dst)/blockLen blocks from
// src in one call, block scales included, with exactly the float32
// operations of the portable decoder (converting the float16 scales with
// F16C, which is exact), so the values agree bit for bit. The AVX-512
// kernels are the AVX2 ones on 16 lanes instead of 8.
package main

import (
	"fmt"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!purego")
	nibbles = constant("decodeNibbles", 0xf)
	bit4 = constant("decodeBit4", 16)
	twoBits = constant("decodeTwoBits", 3)
	bias8 = constant("decodeBias8", 8)
	bias32 = constant("decodeBias32", 32)
	hasF16C()
	for _, w := range []isa{avx2, avx512} {
		decodeQ4K(w)
		decodeQ5K(w)
		decodeQ6K(w)
		decodeQ8_0(w)
		decodeQ4_0(w)
		decodeF16(w)
	}
	Generate()
}

// The 32-bit constants the decoders broadcast.
var nibbles, bit4, twoBits, bias8, bias32 Mem

func constant(name string, v uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	DATA(0, U32(v))
	return m
}

// hasF16C reads CPUID leaf 1: x/sys/cpu does not report F16C.
func hasF16C() {
	TEXT("hasF16C", NOSPLIT, "func() bool")
	Doc("hasF16C reports whether the CPU converts float16 to float32 (F16C).")
	MOVL(U32(1), EAX)
	XORL(ECX, ECX)
	CPUID()
	SHRL(U8(29), ECX)
	ANDL(U32(1), ECX)
	Store(CL, ReturnIndex(0))
	RET()
}

// isa is a vector width and the instructions that differ with it.
type isa struct {
	name  string
	lanes int
	vec   func() VecVirtual
	and   func(mxy, xy, xy1 Op)
	or    func(mxy, xy, xy1 Op)
	mov   func(mxy, xy Op)
}

var (
	avx2   = isa{"AVX2", 8, YMM, VPAND, VPOR, VMOVDQU}
	avx512 = isa{"AVX512", 16, ZMM,
		func(a, b, c Op) { VPANDD(a, b, c) },
		func(a, b, c Op) { VPORD(a, b, c) },
		func(a, b Op) { VMOVDQU32(a, b) }}
)

// header starts a decoder of blocks of blockLen values: it loads the
// pointers, counts the blocks into n and jumps to done when there are none.
func header(name, doc string, blockLen int) (src, dst, n GPVirtual, loop, done string) {
	TEXT(name, NOSPLIT, "func(src []byte, dst []float32)")
	Pragma("noescape")
	Doc(doc)
	src, dst, n = GP64(), GP64(), GP64()
	Load(Param("src").Base(), src)
	Load(Param("dst").Base(), dst)
	Load(Param("dst").Len(), n)
	shift := 0
	for 1<<shift < blockLen {
		shift++
	}
	SHRQ(U8(shift), n)
	loop, done = name+"_block", name+"_done"
	TESTQ(n, n)
	JZ(LabelRef(done))
	return src, dst, n, loop, done
}

// footer advances to the next block and returns.
func footer(src, dst, n GPVirtual, srcLen, blockLen int, loop, done string) {
	ADDQ(U32(srcLen), src)
	ADDQ(U32(4*blockLen), dst)
	DECQ(n)
	JNZ(LabelRef(loop))
	Label(done)
	VZEROUPPER()
	RET()
}

// half broadcasts the float32 value of the float16 at m to w's lanes.
func half(w isa, m Mem) VecVirtual {
	r, x, y := GP32(), XMM(), w.vec()
	MOVWLZX(m, r)
	VMOVD(r, x)
	VCVTPH2PS(x, x)
	VBROADCASTSS(x, y)
	return y
}

// scaleMinK4 writes float32(d·sc_j) to local[0:8] and float32(dmin·m_j)
// to local[8:16] for the eight 6-bit scales and minima packed in the 12
// bytes at sc (Q4_K and Q5_K); d and dmin are broadcast float32 values.
func scaleMinK4(sc Mem, d, dmin VecVirtual, local Mem) {
	a, b, c := GP64(), GP64(), GP64()
	MOVL(sc, a.As32())
	MOVL(sc.Offset(4), b.As32())
	MOVL(sc.Offset(8), c.As32())
	// Scales 0..3 and minima 0..3 are the low six bits of bytes 0..3 and
	// 4..7; scales and minima 4..7 take their low four bits from the
	// nibbles of bytes 8..11 and their top two from bits 6..7 of bytes
	// 0..3 and 4..7.
	lo, hi, t := GP64(), GP64(), GP64()
	for k, src := range []GPVirtual{a, b} {
		MOVL(src.As32(), lo.As32())
		ANDL(U32(0x3f3f3f3f), lo.As32())
		MOVL(c.As32(), hi.As32())
		if k == 1 {
			SHRL(U8(4), hi.As32())
		}
		ANDL(U32(0x0f0f0f0f), hi.As32())
		MOVL(src.As32(), t.As32())
		SHRL(U8(6), t.As32())
		ANDL(U32(0x03030303), t.As32())
		SHLL(U8(4), t.As32())
		ORL(t.As32(), hi.As32())
		SHLQ(U8(32), hi)
		ORQ(lo, hi)
		x, v := XMM(), YMM()
		MOVQ(hi, x)
		VPMOVZXBD(x, v)
		VCVTDQ2PS(v, v)
		if k == 0 {
			VMULPS(d.AsY(), v, v)
		} else {
			VMULPS(dmin.AsY(), v, v)
		}
		VMOVUPS(v, local.Offset(32*k))
	}
}

// decodeQ4K: y = float32(d·sc·q) − dmin·m per sub-block of 32, as
// dequantizeQ4K computes it.
func decodeQ4K(w isa) { decodeQ45K(w, false) }

// decodeQ5K is decodeQ4K with a fifth code bit from qh: value 64j+l takes
// bit 2j of qh[l], value 64j+32+l bit 2j+1.
func decodeQ5K(w isa) { decodeQ45K(w, true) }

// decodeQ45K generates decodeQ4K (qs at byte 16) or, with fifth, decodeQ5K
// (qh at byte 16, qs at byte 48).
func decodeQ45K(w isa, fifth bool) {
	size, qs, typ := 144, 16, "Q4_K"
	if fifth {
		size, qs, typ = 176, 48, "Q5_K"
	}
	name := "decode" + strings.ReplaceAll(typ, "_", "") + w.name
	src, dst, n, loop, done := header(name, fmt.Sprintf("%s decodes len(dst)/256 %s blocks of %d bytes from src.", name, typ, size), 256)
	local := AllocLocal(64)
	b := Mem{Base: src}
	y := Mem{Base: dst}
	mask := w.vec()
	VPBROADCASTD(nibbles, mask)
	var sixteen VecVirtual
	if fifth {
		sixteen = w.vec()
		VPBROADCASTD(bit4, sixteen)
	}
	Label(loop)
	d, dmin := half(w, b), half(w, b.Offset(2))
	scaleMinK4(b.Offset(4), d, dmin, local)
	// bit moves bit k of each lane of h to bit 4 of t.
	bit := func(h VecVirtual, k int) VecVirtual {
		t := w.vec()
		switch {
		case k < 4:
			VPSLLD(U8(4-k), h, t)
		case k > 4:
			VPSRLD(U8(k-4), h, t)
		default:
			w.mov(h, t)
		}
		w.and(sixteen, t, t)
		return t
	}
	L := w.lanes
	for j := range 4 {
		d1, m1, d2, m2 := w.vec(), w.vec(), w.vec(), w.vec()
		VBROADCASTSS(local.Offset(4*(2*j)), d1)
		VBROADCASTSS(local.Offset(32+4*(2*j)), m1)
		VBROADCASTSS(local.Offset(4*(2*j+1)), d2)
		VBROADCASTSS(local.Offset(32+4*(2*j+1)), m2)
		for g := range 32 / L {
			v, lo, hi := w.vec(), w.vec(), w.vec()
			VPMOVZXBD(b.Offset(qs+32*j+L*g), v)
			w.and(mask, v, lo)
			VPSRLD(U8(4), v, hi)
			if fifth {
				h := w.vec()
				VPMOVZXBD(b.Offset(16+L*g), h)
				w.or(bit(h, 2*j), lo, lo)
				w.or(bit(h, 2*j+1), hi, hi)
			}
			VCVTDQ2PS(lo, lo)
			VCVTDQ2PS(hi, hi)
			VMULPS(d1, lo, lo)
			VSUBPS(m1, lo, lo)
			VMULPS(d2, hi, hi)
			VSUBPS(m2, hi, hi)
			VMOVUPS(lo, y.Offset(4*(64*j+L*g)))
			VMOVUPS(hi, y.Offset(4*(64*j+32+L*g)))
		}
	}
	footer(src, dst, n, size, 256, loop, done)
}

// decodeQ6K: y = float32(d·sc)·(q − 32), as dequantizeQ6K computes it.
// Half h (128 values) takes its low four bits from ql[64h:64h+64], its
// top two from qh[32h:32h+32] and its scales from sc[8h:8h+8]; value
// 128h+32k+l has scale 8h+l/16+2k.
func decodeQ6K(w isa) {
	const size = 210
	name := "decodeQ6K" + w.name
	src, dst, n, loop, done := header(name, fmt.Sprintf("%s decodes len(dst)/256 Q6_K blocks of %d bytes from src.", name, size), 256)
	local := AllocLocal(64)
	b := Mem{Base: src}
	y := Mem{Base: dst}
	low, two, bias := w.vec(), w.vec(), w.vec()
	VPBROADCASTD(nibbles, low)
	VPBROADCASTD(twoBits, two)
	VPBROADCASTD(bias32, bias)
	Label(loop)
	d := half(w, b.Offset(208))
	for k := range 2 {
		v := YMM()
		VPMOVSXBD(b.Offset(192+8*k), v)
		VCVTDQ2PS(v, v)
		VMULPS(v, d.AsY(), v)
		VMOVUPS(v, local.Offset(32*k))
	}
	L := w.lanes
	for h := range 2 {
		ql, qh := 64*h, 128+32*h
		for g := range 32 / L {
			l0, l1, hb := w.vec(), w.vec(), w.vec()
			VPMOVZXBD(b.Offset(ql+L*g), l0)
			VPMOVZXBD(b.Offset(ql+32+L*g), l1)
			VPMOVZXBD(b.Offset(qh+L*g), hb)
			for k := range 4 {
				v, t := w.vec(), w.vec()
				l := l0
				if k%2 == 1 {
					l = l1
				}
				if k < 2 {
					w.and(low, l, v)
				} else {
					VPSRLD(U8(4), l, v)
				}
				if k == 0 {
					w.and(two, hb, t)
				} else {
					VPSRLD(U8(2*k), hb, t)
					w.and(two, t, t)
				}
				VPSLLD(U8(4), t, t)
				w.or(t, v, v)
				VPSUBD(bias, v, v)
				VCVTDQ2PS(v, v)
				// Lanes of 8 cover half a scale's 16 values, lanes of 16
				// all of them.
				s := w.vec()
				VBROADCASTSS(local.Offset(4*(8*h+L*g/16+2*k)), s)
				VMULPS(v, s, v)
				VMOVUPS(v, y.Offset(4*(128*h+32*k+L*g)))
			}
		}
	}
	footer(src, dst, n, size, 256, loop, done)
}

// decodeQ8_0: y = float32(q)·d.
func decodeQ8_0(w isa) {
	const size = 34
	name := "decodeQ8_0" + w.name
	src, dst, n, loop, done := header(name, fmt.Sprintf("%s decodes len(dst)/32 Q8_0 blocks of %d bytes from src.", name, size), 32)
	b := Mem{Base: src}
	y := Mem{Base: dst}
	Label(loop)
	d := half(w, b)
	L := w.lanes
	for g := range 32 / L {
		v := w.vec()
		VPMOVSXBD(b.Offset(2+L*g), v)
		VCVTDQ2PS(v, v)
		VMULPS(d, v, v)
		VMOVUPS(v, y.Offset(4*L*g))
	}
	footer(src, dst, n, size, 32, loop, done)
}

// decodeQ4_0: y = float32(q − 8)·d, byte j holding values j (low nibble)
// and j+16 (high nibble).
func decodeQ4_0(w isa) {
	const size = 18
	name := "decodeQ4_0" + w.name
	src, dst, n, loop, done := header(name, fmt.Sprintf("%s decodes len(dst)/32 Q4_0 blocks of %d bytes from src.", name, size), 32)
	b := Mem{Base: src}
	y := Mem{Base: dst}
	mask, eight := w.vec(), w.vec()
	VPBROADCASTD(nibbles, mask)
	VPBROADCASTD(bias8, eight)
	Label(loop)
	d := half(w, b)
	L := w.lanes
	for g := range 16 / L {
		v, lo, hi := w.vec(), w.vec(), w.vec()
		VPMOVZXBD(b.Offset(2+L*g), v)
		w.and(mask, v, lo)
		VPSRLD(U8(4), v, hi)
		VPSUBD(eight, lo, lo)
		VPSUBD(eight, hi, hi)
		VCVTDQ2PS(lo, lo)
		VCVTDQ2PS(hi, hi)
		VMULPS(d, lo, lo)
		VMULPS(d, hi, hi)
		VMOVUPS(lo, y.Offset(4*L*g))
		VMOVUPS(hi, y.Offset(64+4*L*g))
	}
	footer(src, dst, n, size, 32, loop, done)
}

// decodeF16 widens float16 values with F16C, sixteen at a time.
func decodeF16(w isa) {
	name := "decodeF16" + w.name
	src, dst, n, loop, done := header(name, name+" is decodeF16 for the first len(dst)/16·16 values.", 16)
	b := Mem{Base: src}
	y := Mem{Base: dst}
	Label(loop)
	L := w.lanes
	for g := range 16 / L {
		v := w.vec()
		VCVTPH2PS(b.Offset(2*L*g), v)
		VMOVUPS(v, y.Offset(4*L*g))
	}
	footer(src, dst, n, 32, 16, loop, done)
}
