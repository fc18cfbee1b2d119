package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// q3Pass is one pass of make_q3_quants' coordinate descent over sixteen
// lanes: each value's code is re-derived from the lane's sums without it
// and kept when the fit improves, the lanes' codes (as floats, in l) and
// sums updated under masks exactly where the scalar code branches.
func q3Pass() {
	TEXT("q3PassAVX2", NOSPLIT, "func(x, w, wx, l []float32, n int, bounds *[16]int32, sums *[32]float32) bool")
	Doc("q3PassAVX2 is q3PassLanes in AVX2.")
	x := Mem{Base: Load(Param("x").Base(), GP64())}
	w := Mem{Base: Load(Param("w").Base(), GP64())}
	wx := Mem{Base: Load(Param("wx").Base(), GP64())}
	l := Mem{Base: Load(Param("l").Base(), GP64())}
	n := Load(Param("n"), GP64())
	bounds := Mem{Base: Load(Param("bounds"), GP64())}
	sp := Mem{Base: Load(Param("sums"), GP64())}
	var slxS, sl2S [halves]VecVirtual
	for h := range slxS {
		slxS[h], sl2S[h] = YMM(), YMM()
		VMOVUPS(sp.Offset(h*halfSize), slxS[h])
		VMOVUPS(sp.Offset(64+h*halfSize), sl2S[h])
	}
	changed, zero := YMM(), YMM()
	VXORPS(changed, changed, changed)
	VXORPS(zero, zero, zero)
	loop("rows", n, []Register{x.Base, w.Base, wx.Base, l.Base}, func() {
		for h := 0; h < halves; h++ {
			off := h * halfSize
			fl, wv, wxv := YMM(), YMM(), YMM()
			VMOVUPS(l.Offset(off), fl)
			VMOVUPS(w.Offset(off), wv)
			VMOVUPS(wx.Offset(off), wxv)
			// slx = sumlx − (w·x)·l, and only lanes with slx > 0 go on.
			slx, t, ok := YMM(), YMM(), YMM()
			VMULPS(fl, wxv, t)
			VSUBPS(t, slxS[h], slx)
			VCMPPS(U8(0x1e), zero, slx, ok) // slx > 0
			// sl2 = suml2 − (w·l)·l; the new code from x·sl2/slx.
			sl2 := YMM()
			VMULPS(fl, wv, t)
			VMULPS(fl, t, t)
			VSUBPS(t, sl2S[h], sl2)
			nl := YMM()
			VMULPS(x.Offset(off), sl2, nl)
			VDIVPS(slx, nl, nl)
			nearestClamped(nl, bounds)
			VCVTDQ2PS(nl, nl)
			VCMPPS(U8(0x04), fl, nl, t) // nl != l
			VANDPS(t, ok, ok)
			// The sums with the new code.
			VMULPS(nl, wxv, t)
			VADDPS(t, slx, slx)
			VMULPS(nl, wv, t)
			VMULPS(nl, t, t)
			VADDPS(t, sl2, sl2)
			// Kept when sl2 > 0 and slx²·suml2 > sumlx²·sl2.
			VCMPPS(U8(0x1e), zero, sl2, t)
			VANDPS(t, ok, ok)
			a, b := YMM(), YMM()
			VMULPS(slx, slx, a)
			VMULPS(sl2S[h], a, a)
			VMULPS(slxS[h], slxS[h], b)
			VMULPS(sl2, b, b)
			VCMPPS(U8(0x1e), b, a, t) // a > b
			VANDPS(t, ok, ok)
			// Most values keep their code in every lane: branching past the
			// update then lets the next value start before this one is
			// decided, as the scalar code's branch does.
			r := GP32()
			VMOVMSKPS(ok, r)
			TESTL(r, r)
			JZ(LabelRef(fmt.Sprintf("keep%d", h)))
			VBLENDVPS(ok, nl, fl, fl)
			VMOVUPS(fl, l.Offset(off))
			VBLENDVPS(ok, slx, slxS[h], slxS[h])
			VBLENDVPS(ok, sl2, sl2S[h], sl2S[h])
			VORPS(ok, changed, changed)
			Label(fmt.Sprintf("keep%d", h))
		}
	})
	for h := range slxS {
		VMOVUPS(slxS[h], sp.Offset(h*halfSize))
		VMOVUPS(sl2S[h], sp.Offset(64+h*halfSize))
	}
	r := GP32()
	VMOVMSKPS(changed, r)
	TESTL(r, r)
	b := GP8()
	SETNE(b)
	Store(b, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
