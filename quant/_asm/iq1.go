package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// iq1Scan generates the skip test of IQ1_S's split search: for a first
// split point a and the best score so far, it finds the first batch of
// eight second split points b (from b0, b ≤ 32) in which any candidate,
// with either grid shift, passes the scalar loop's test
// sumq2 > 0 && sumqx² > best·sumq2, every sum formed as the scalar loop
// forms it. Candidates before that batch cannot change the best score, so
// the scalar loop may skip them.
//
// tab holds, per b, the rows Σw·x, Σw, the high Σwqx and Σwq² of the plus
// grid and those of the minus grid (rows 40 long, the tail unused); s
// holds sumx[a], sumw[a], the low Σwqx and Σwq² of the plus and of the
// minus grid, the middle level δ and the best score.
func iq1Scan() {
	TEXT("iq1ScanAVX2", NOSPLIT, "func(tab *[6][40]float32, s *[8]float32, b0 int) int")
	Pragma("noescape")
	Doc("iq1ScanAVX2 returns the first b ≥ b0, in steps of 8, whose batch of second split points holds a candidate that passes, or 40 when none does.")
	tab := Load(Param("tab"), GP64())
	sp := Mem{Base: Load(Param("s"), GP64())}
	b := Load(Param("b0"), GP64())
	var sc [8]VecVirtual
	for i := range sc {
		sc[i] = YMM()
		VBROADCASTSS(sp.Offset(4*i), sc[i])
	}
	sxa, swa, d, best := sc[0], sc[1], sc[6], sc[7]
	low := [2][2]VecVirtual{{sc[2], sc[3]}, {sc[4], sc[5]}}
	pos, zero := YMM(), YMM()
	VMOVQ(b, pos.AsX())
	VPBROADCASTD(pos.AsX(), pos)
	VPADDD(lanePositions, pos, pos)
	VXORPS(zero, zero, zero)
	row := func(r int) Mem { return Mem{Base: tab, Index: b, Scale: 4, Disp: 160 * r} }

	Label("iq1Scan_batch")
	mx1, mq1 := YMM(), YMM()
	VMOVUPS(row(0), mx1)
	VSUBPS(sxa, mx1, mx1)
	VMULPS(d, mx1, mx1)
	VMOVUPS(row(1), mq1)
	VSUBPS(swa, mq1, mq1)
	VMULPS(d, mq1, mq1)
	VMULPS(d, mq1, mq1)
	pass := YMM()
	VXORPS(pass, pass, pass)
	for sh := range low {
		sx, sq, hit, t := YMM(), YMM(), YMM(), YMM()
		if sh == 0 {
			VADDPS(mx1, low[sh][0], sx)
		} else {
			VSUBPS(mx1, low[sh][0], sx)
		}
		VADDPS(row(2+2*sh), sx, sx)
		VADDPS(mq1, low[sh][1], sq)
		VADDPS(row(3+2*sh), sq, sq)
		VCMPPS(U8(0x1e), zero, sq, hit) // sumq2 > 0, false for NaN
		VMULPS(sx, sx, sx)
		VMULPS(sq, best, t)
		VCMPPS(U8(0x1e), t, sx, t) // sumqx² > best·sumq2
		VANDPS(t, hit, hit)
		VORPS(hit, pass, pass)
	}
	valid := YMM()
	VMOVDQU(c32("thirtyThree", 33), valid)
	VPCMPGTD(pos, valid, valid) // b ≤ 32
	VANDPS(valid, pass, pass)
	m := GP32()
	VMOVMSKPS(pass, m)
	TESTL(m, m)
	JNZ(LabelRef("iq1Scan_found"))
	ADDQ(U8(8), b)
	VPADDD(c32("eight32", 8), pos, pos)
	CMPQ(b, U8(32))
	JLE(LabelRef("iq1Scan_batch"))
	MOVQ(U32(40), b)
	Label("iq1Scan_found")
	Store(b, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
