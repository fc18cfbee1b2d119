// Command lanes generates the AVX2 kernels of package quant that run
// sixteen independent sub-block fits side by side, one per float32 lane.
// Each lane performs exactly the float32 operations of the scalar Go code,
// in the same order and without fused multiply-add, so the results are
// bit-identical to it.
//
// Run through go generate in package quant.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The callers guarantee n ≥ 1 and n·16 values in every slice.
//
// Lane data is transposed: element i of the sixteen sub-blocks is the 64
// bytes at offset 64·i, lanes 0-7 in the first half, 8-15 in the second.
const (
	halves   = 2
	halfSize = 32
	rowSize  = halves * halfSize
)

// splat32 declares 32 bytes of read-only data holding v eight times.
func splat32(name string, v uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(v))
	}
	return m
}

var magic, mantissa, bias, absMask Mem

// nearestClamped leaves in l the int32 lanes clamp(nearestInt(p), lo, hi),
// as ggml's nearest_int: p + 1.5·2^23, low 23 bits, minus 2^22. p is
// overwritten.
func nearestClamped(p VecVirtual, bounds Mem) {
	VADDPS(magic, p, p)
	VPAND(mantissa, p, p)
	VPSUBD(bias, p, p)
	VPMINSD(bounds.Offset(32), p, p)
	VPMAXSD(bounds, p, p)
}

// loadHalves loads the two 8-lane halves of a 16-lane array parameter.
func loadHalves(name string) [halves]VecVirtual {
	p := Mem{Base: Load(Param(name), GP64())}
	var r [halves]VecVirtual
	for h := range r {
		r[h] = YMM()
		VMOVUPS(p.Offset(h*halfSize), r[h])
	}
	return r
}

func zeroHalves() [halves]VecVirtual {
	var r [halves]VecVirtual
	for h := range r {
		r[h] = YMM()
		VXORPS(r[h], r[h], r[h])
	}
	return r
}

func storeHalves(dst Mem, rs ...[halves]VecVirtual) {
	for k, r := range rs {
		for h := range r {
			VMOVUPS(r[h], dst.Offset(k*rowSize+h*halfSize))
		}
	}
}

// loop emits a loop over the n rows of the lane arrays, advancing the
// given bases by one row each time.
func loop(name string, n Register, bases []Register, body func()) {
	Label(name)
	body()
	for _, b := range bases {
		ADDQ(U32(rowSize), b)
	}
	DECQ(n)
	JNZ(LabelRef(name))
}

// gridCodes loads half h of row x into xv and leaves in p, as floats, the
// codes clamp(nearestInt(iscale·(x−mn)), lo, hi) of make_qkx2_quants.
func gridCodes(x Mem, h int, mn, is [halves]VecVirtual, bounds Mem) (xv, p VecVirtual) {
	xv, p = YMM(), YMM()
	VMOVUPS(x.Offset(h*halfSize), xv)
	VSUBPS(mn[h], xv, p)
	VMULPS(is[h], p, p)
	nearestClamped(p, bounds)
	VCVTDQ2PS(p, p)
	return xv, p
}

// gridArgs loads the arguments make_qkx2_quants' kernels share.
func gridArgs() (x, w Mem, n Register, bounds Mem, is, mn [halves]VecVirtual) {
	x = Mem{Base: Load(Param("x").Base(), GP64())}
	w = Mem{Base: Load(Param("w").Base(), GP64())}
	n = Load(Param("n"), GP64())
	bounds = Mem{Base: Load(Param("bounds"), GP64())}
	return x, w, n, bounds, loadHalves("iscale"), loadHalves("mn")
}

// qkx2Sums: for each lane, l = clamp(nearestInt(iscale·(x−min)), lo, hi)
// and the sums Σw·l, Σ(w·l)·l, Σ(w·l)·x of make_qkx2_quants.
func qkx2Sums() {
	TEXT("qkx2SumsAVX2", NOSPLIT, "func(x, w []float32, n int, iscale, mn *[16]float32, bounds *[16]int32, sums *[48]float32)")
	Doc("qkx2SumsAVX2 is qkx2SumsLanes in AVX2.")
	x, w, n, bounds, is, mn := gridArgs()
	sL, sL2, sXL := zeroHalves(), zeroHalves(), zeroHalves()
	loop("rows", n, []Register{x.Base, w.Base}, func() {
		for h := 0; h < halves; h++ {
			xv, p := gridCodes(x, h, mn, is, bounds)
			wl, t := YMM(), YMM()
			VMULPS(w.Offset(h*halfSize), p, wl)
			VADDPS(wl, sL[h], sL[h])
			VMULPS(p, wl, t)
			VADDPS(t, sL2[h], sL2[h])
			VMULPS(xv, wl, t)
			VADDPS(t, sXL[h], sXL[h])
		}
	})
	storeHalves(Mem{Base: Load(Param("sums"), GP64())}, sL, sL2, sXL)
	VZEROUPPER()
	RET()
}

// qkx2Err: for each lane, with l as in qkx2Sums, Σw·d² (or Σw·|d| when
// mad) where d = s·l + m − x.
func qkx2Err(name string, mad bool) {
	TEXT(name, NOSPLIT, "func(x, w []float32, n int, iscale, mn, s, m *[16]float32, bounds *[16]int32, e *[16]float32)")
	Doc(name + " is qkx2ErrLanes in AVX2.")
	x, w, n, bounds, is, mn := gridArgs()
	s := loadHalves("s")
	m := loadHalves("m")
	e := zeroHalves()
	loop("rows", n, []Register{x.Base, w.Base}, func() {
		for h := 0; h < halves; h++ {
			xv, p := gridCodes(x, h, mn, is, bounds)
			VMULPS(s[h], p, p)
			VADDPS(m[h], p, p)
			VSUBPS(xv, p, p)
			if mad {
				VANDPS(absMask, p, p)
			} else {
				VMULPS(p, p, p)
			}
			VMULPS(w.Offset(h*halfSize), p, p)
			VADDPS(p, e[h], e[h])
		}
	})
	storeHalves(Mem{Base: Load(Param("e"), GP64())}, e)
	VZEROUPPER()
	RET()
}

// qxSums: for each lane, l = clamp(nearestInt(iscale·x), lo, hi), stored
// as floats in codes, and the sums Σ(w·x)·l and Σ(w·l)·l of make_qx_quants.
func qxSums() {
	TEXT("qxSumsAVX2", NOSPLIT, "func(x, w, wx []float32, n int, iscale *[16]float32, bounds *[16]int32, sums *[32]float32, codes []float32)")
	Doc("qxSumsAVX2 is qxSumsLanes in AVX2.")
	x := Mem{Base: Load(Param("x").Base(), GP64())}
	w := Mem{Base: Load(Param("w").Base(), GP64())}
	wx := Mem{Base: Load(Param("wx").Base(), GP64())}
	codes := Mem{Base: Load(Param("codes").Base(), GP64())}
	n := Load(Param("n"), GP64())
	bounds := Mem{Base: Load(Param("bounds"), GP64())}
	is := loadHalves("iscale")
	slx, sl2 := zeroHalves(), zeroHalves()
	loop("rows", n, []Register{x.Base, w.Base, wx.Base, codes.Base}, func() {
		for h := 0; h < halves; h++ {
			p, t := YMM(), YMM()
			VMULPS(x.Offset(h*halfSize), is[h], p)
			nearestClamped(p, bounds)
			VCVTDQ2PS(p, p)
			VMOVUPS(p, codes.Offset(h*halfSize))
			VMULPS(wx.Offset(h*halfSize), p, t)
			VADDPS(t, slx[h], slx[h])
			VMULPS(w.Offset(h*halfSize), p, t)
			VMULPS(p, t, t)
			VADDPS(t, sl2[h], sl2[h])
		}
	})
	storeHalves(Mem{Base: Load(Param("sums"), GP64())}, slx, sl2)
	VZEROUPPER()
	RET()
}

func main() {
	ConstraintExpr("amd64,!purego")
	magic = splat32("nearestMagic", 0x4b400000) // 12582912
	mantissa = splat32("mantissaMask", 0x007fffff)
	bias = splat32("nearestBias", 0x00400000)
	absMask = c32("absMask", 0x7fffffff)
	qkx2Sums()
	qkx2Err("qkx2ErrAVX2", false)
	qkx2Err("qkx2MadAVX2", true)
	qxSums()
	for _, t := range legacyTypes {
		legacy(t)
	}
	q3Pass()
	squaresLanes()
	qkx2Range()
	requant("requantU8AVX2", "uint8")
	requant("requantI8AVX2", "int8")
	q8_0()
	f32Rows("encodeF16AVX2", "is encodeF16 for the first len(src)/16·16 values.", toF16)
	f32Rows("encodeBF16AVX2", "is encodeBF16 for the first len(src)/16·16 values.", toBF16)
	bf16Rows512()
	f16Rows512()
	neighbourLanes(4)
	neighbourLanes(8)
	gridRound4()
	gridRound8()
	iq1Scan()
	mxfp4Codes()
	ternaryTrits()
	Generate()
}

// qkx2Range: for each lane, the first pass of make_qkx2_quants: the
// minimum and maximum as C's `if (x < min) min = x` loops find them, Σw
// and Σw·x, stored in out[0:16], [16:32], [32:48] and [48:64].
func qkx2Range() {
	TEXT("qkx2RangeAVX2", NOSPLIT, "func(x, w []float32, n int, out *[64]float32)")
	Doc("qkx2RangeAVX2 is qkx2RangeLanes in AVX2.")
	x := Mem{Base: Load(Param("x").Base(), GP64())}
	w := Mem{Base: Load(Param("w").Base(), GP64())}
	n := Load(Param("n"), GP64())
	var mn, mx, sw, sx [halves]VecVirtual
	for h := 0; h < halves; h++ {
		mn[h], mx[h], sw[h], sx[h] = YMM(), YMM(), YMM(), YMM()
		VMOVUPS(x.Offset(h*halfSize), mn[h])
		VMOVUPS(mn[h], mx[h])
		VMOVUPS(w.Offset(h*halfSize), sw[h])
		VMULPS(mn[h], sw[h], sx[h])
	}
	ADDQ(U32(rowSize), x.Base)
	ADDQ(U32(rowSize), w.Base)
	DECQ(n)
	JZ(LabelRef("done"))
	loop("rows", n, []Register{x.Base, w.Base}, func() {
		for h := 0; h < halves; h++ {
			xv, t := YMM(), YMM()
			VMOVUPS(x.Offset(h*halfSize), xv)
			VMINPS(mn[h], xv, mn[h]) // x < min ? x : min
			VMAXPS(mx[h], xv, mx[h]) // x > max ? x : max
			VADDPS(w.Offset(h*halfSize), sw[h], sw[h])
			VMULPS(w.Offset(h*halfSize), xv, t)
			VADDPS(t, sx[h], sx[h])
		}
	})
	Label("done")
	storeHalves(Mem{Base: Load(Param("out"), GP64())}, mn, mx, sw, sx)
	VZEROUPPER()
	RET()
}
