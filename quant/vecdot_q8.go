package quant

import (
	"encoding/binary"
)

// Dot products of the 32-element block types with Q8_0 / Q8_1 activations
// (ggml_vec_dot_q4_0_q8_0_generic and friends). Each activation block is
// quantized into a stack buffer just before it is used. Products that C
// adds to something are wrapped in float32() so Go cannot fuse them.

// q8Act is one quantized 32-element activation block.
type q8Act struct {
	d, s float32 // s (d·Σqs) only for Q8_1
	qs   [32]int8
}

func (a *q8Act) q8_0(x []float32) {
	var b [blockQ8_0Len]byte
	quantizeQ8_0(x[:32], b[:])
	a.d = F16ToF32(binary.LittleEndian.Uint16(b[0:]))
	for j := range a.qs {
		a.qs[j] = int8(b[2+j])
	}
}

func (a *q8Act) q8_1(x []float32) {
	var b [blockQ8_1Len]byte
	quantizeQ8_1(x[:32], b[:])
	a.d = F16ToF32(binary.LittleEndian.Uint16(b[0:]))
	a.s = F16ToF32(binary.LittleEndian.Uint16(b[2:]))
	for j := range a.qs {
		a.qs[j] = int8(b[4+j])
	}
}

func vecDotQ4_0(w []byte, x []float32) float32 {
	var a q8Act
	var sumf float32
	for ib := 0; ib < len(x)/32; ib++ {
		a.q8_0(x[ib*32:])
		b := w[ib*18 : ib*18+18]
		qs := b[2:18]
		var s0, s1 int32
		for j, q := range qs {
			s0 += (int32(q&0xF) - 8) * int32(a.qs[j])
			s1 += (int32(q>>4) - 8) * int32(a.qs[j+16])
		}
		sumf += float32(float32(float32(s0+s1)*getHalf(b)) * a.d)
	}
	return sumf
}

func vecDotQ4_1(w []byte, x []float32) float32 {
	var a q8Act
	var sumf float32
	for ib := 0; ib < len(x)/32; ib++ {
		a.q8_1(x[ib*32:])
		b := w[ib*20 : ib*20+20]
		qs := b[4:20]
		var s0, s1 int32
		for j, q := range qs {
			s0 += int32(q&0xF) * int32(a.qs[j])
			s1 += int32(q>>4) * int32(a.qs[j+16])
		}
		d, m := getHalf(b[0:]), getHalf(b[2:])
		sumf += float32(float32(d*a.d)*float32(s0+s1)) + float32(m*a.s)
	}
	return sumf
}

func vecDotQ5_0(w []byte, x []float32) float32 {
	var a q8Act
	var sumf float32
	for ib := 0; ib < len(x)/32; ib++ {
		a.q8_0(x[ib*32:])
		b := w[ib*22 : ib*22+22]
		qh := binary.LittleEndian.Uint32(b[2:])
		qs := b[6:22]
		var s0, s1 int32
		for j, q := range qs {
			h0 := uint8(qh>>j&1) << 4
			h1 := uint8(qh>>(j+16)&1) << 4
			s0 += int32(int8((q&0xF)|h0)-16) * int32(a.qs[j])
			s1 += int32(int8((q>>4)|h1)-16) * int32(a.qs[j+16])
		}
		sumf += float32(float32(getHalf(b)*a.d) * float32(s0+s1))
	}
	return sumf
}

func vecDotQ5_1(w []byte, x []float32) float32 {
	var a q8Act
	var sumf float32
	for ib := 0; ib < len(x)/32; ib++ {
		a.q8_1(x[ib*32:])
		b := w[ib*24 : ib*24+24]
		qh := binary.LittleEndian.Uint32(b[4:])
		qs := b[8:24]
		var s0, s1 int32
		for j, q := range qs {
			h0 := uint8(qh>>j&1) << 4
			h1 := uint8(qh>>(j+16)&1) << 4
			s0 += int32((q&0xF)|h0) * int32(a.qs[j])
			s1 += int32((q>>4)|h1) * int32(a.qs[j+16])
		}
		d, m := getHalf(b[0:]), getHalf(b[2:])
		sumf += float32(float32(d*a.d)*float32(s0+s1)) + float32(m*a.s)
	}
	return sumf
}

func vecDotQ8_0(w []byte, x []float32) float32 {
	var a q8Act
	var sumf float32
	for ib := 0; ib < len(x)/32; ib++ {
		a.q8_0(x[ib*32:])
		b := w[ib*34 : ib*34+34]
		var s int32
		for j, q := range b[2:34] {
			s += int32(int8(q)) * int32(a.qs[j])
		}
		sumf += float32(float32(s) * float32(getHalf(b)*a.d))
	}
	return sumf
}
