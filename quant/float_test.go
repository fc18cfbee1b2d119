package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/x448/float16"
)

func TestF16ToF32AllHalves(t *testing.T) {
	for h := range 1 << 16 {
		got := F16ToF32(uint16(h))
		want := float16.Frombits(uint16(h)).Float32()
		gb, wb := math.Float32bits(got), math.Float32bits(want)
		if want != want {
			// NaN: sign and payload kept, quiet bit set.
			if got == got || gb != wb || gb&0x00400000 == 0 {
				t.Fatalf("%#04x: got %#08x, want quiet NaN %#08x", h, gb, wb)
			}
			continue
		}
		if gb != wb {
			t.Fatalf("%#04x: got %g (%#08x), want %g (%#08x)", h, got, gb, want, wb)
		}
		// Every finite half survives the trip back.
		if F32ToF16(got) != uint16(h) {
			t.Fatalf("%#04x: round trip gave %#04x", h, F32ToF16(got))
		}
	}
}

func TestF32ToF16(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{0, 0},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65519.996, 0x7bff},             // just below the tie: stays finite
		{65520, 0x7c00},                 // tie rounds to even, which is Inf
		{1e30, 0x7c00},                  // overflow
		{float32(math.Inf(-1)), 0xfc00}, // Inf stays Inf
		{0x1p-24, 0x0001},               // smallest subnormal
		{0x1p-25, 0x0000},               // tie to even: 0
		{0x1.8p-24, 0x0002},             // tie to even: 2
		{0x1p-14, 0x0400},               // smallest normal
		{0x1.ffcp-15, 0x0400},           // subnormal rounding up into the normals
		{1 + 0x1p-11, 0x3c00},           // tie to even below
		{1 + 0x3p-11, 0x3c02},           // tie to even above
		{float32(math.NaN()), 0x7e00},
		{math.Float32frombits(0xffc00001), 0xfe00}, // NaN keeps its sign
		{math.Float32frombits(0x7f800001), 0x7e00}, // signalling NaN comes out quiet
	}
	for _, c := range cases {
		if got := F32ToF16(c.in); got != c.want {
			t.Errorf("F32ToF16(%g = %#08x) = %#04x, want %#04x", c.in, math.Float32bits(c.in), got, c.want)
		}
	}
	// Every non-NaN float32 must agree with x448/float16 (checked
	// exhaustively once; here a stride through all 2^32 bit patterns).
	for u := uint64(0); u < 1<<32; u += 65521 {
		for _, b := range []uint32{uint32(u), uint32(u) ^ 0x1000, uint32(u) | 0xfff} {
			x := math.Float32frombits(b)
			if x != x {
				continue
			}
			if got, want := F32ToF16(x), float16.Fromfloat32(x).Bits(); got != want {
				t.Fatalf("F32ToF16(%#08x) = %#04x, want %#04x", b, got, want)
			}
		}
	}
}

func TestBF16(t *testing.T) {
	cases := []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even below
		{0x3f818000, 0x3f82}, // tie, even above
		{0x3f808001, 0x3f81}, // above the tie
		{0xbf807fff, 0xbf80}, // below the tie
		{0x7f7fffff, 0x7f80}, // largest float rounds to Inf
		{0xff800000, 0xff80}, // -Inf
		{0x00000001, 0x0000}, // smallest subnormal rounds to zero
		{0x00008000, 0x0000}, // subnormal tie to even
		{0x00018000, 0x0002}, // subnormals are kept, not flushed
		{0x7f800001, 0x7fc0}, // signalling NaN: truncated, forced quiet
		{0xffc12345, 0xffc1}, // NaN keeps sign and top payload
	}
	for _, c := range cases {
		if got := F32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	for h := range 1 << 16 {
		if got := math.Float32bits(BF16ToF32(uint16(h))); got != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %#08x", h, got)
		}
	}
}

func TestCheckF16Range(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	cases := []struct {
		in   []float32
		want int
	}{
		{nil, -1},
		{[]float32{1, -65504, 65519.996, 0}, -1},
		{[]float32{1, inf, nan, -inf}, -1}, // not finite: FindNonFinite's job
		{[]float32{1, 2, 65520}, 2},
		{[]float32{-65520, 1e30}, 0},
		{[]float32{0, 3.4e38}, 1},
	}
	for _, c := range cases {
		i, ok := CheckF16Range(c.in)
		if i != c.want || ok != (c.want < 0) {
			t.Errorf("CheckF16Range(%v) = %d, %v; want %d", c.in, i, ok, c.want)
		}
		// The answer must agree with the conversion itself.
		for j, v := range c.in {
			overflow := v == v && !math.IsInf(float64(v), 0) && F32ToF16(v)&0x7fff == 0x7c00
			if overflow && (c.want < 0 || j < c.want) {
				t.Errorf("%v: element %d overflows but was not reported first", c.in, j)
			}
		}
	}
}

func TestFindNonFinite(t *testing.T) {
	inf, nan := float32(math.Inf(-1)), float32(math.NaN())
	cases := []struct {
		in   []float32
		want int
	}{
		{nil, -1},
		{[]float32{0, 3.4e38, -1e-45}, -1},
		{[]float32{0, nan}, 1},
		{[]float32{inf, nan}, 0},
		{[]float32{1, 2, 3, math.Float32frombits(0x7f800001)}, 3},
	}
	for _, c := range cases {
		if i, ok := FindNonFinite(c.in); i != c.want || ok != (c.want < 0) {
			t.Errorf("FindNonFinite(%v) = %d, %v; want %d", c.in, i, ok, c.want)
		}
	}
}

// Every float32 bit pattern converts to bfloat16 and to float16 exactly as
// F32ToBF16 and F32ToF16 do (ggml's rounding, subnormals kept, NaNs quieted)
// on the portable loop and on every SIMD kernel this machine can run, each
// kernel also called directly. The patterns go through in slices whose
// length leaves whole groups and a partial one past the kernels' widest
// step, at every alignment mod 16 values. -short takes a stride of the
// patterns. (The exhaustive run takes about 15 s per conversion on one core.)
func TestEncodeBF16AllPatterns(t *testing.T) { testEncodeAllPatterns(t, false) }

func TestEncodeF16AllPatterns(t *testing.T) { testEncodeAllPatterns(t, true) }

func testEncodeAllPatterns(t *testing.T, f16 bool) {
	ref, encode := F32ToBF16, encodeBF16
	field := func(k *legacyKernels) *func(src []float32, dst []byte) { return &k.bf16 }
	if f16 {
		ref, encode = F32ToF16, encodeF16
		field = func(k *legacyKernels) *func(src []float32, dst []byte) { return &k.f16 }
	}
	type path struct {
		name string
		run  func(src []float32, dst []byte)
	}
	with := func(k func(src []float32, dst []byte)) func(src []float32, dst []byte) {
		return func(src []float32, dst []byte) {
			was := legacy
			defer func() { legacy = was }()
			*field(&legacy) = k
			encode(src, dst)
		}
	}
	paths := []path{{"go", with(nil)}}
	for name, k := range floatEncoders(f16) {
		paths = append(paths,
			path{name, with(k)},
			path{name + " alone", func(src []float32, dst []byte) {
				n := len(src) &^ 15
				for i := n; i < len(src); i++ {
					binary.LittleEndian.PutUint16(dst[2*i:], ref(src[i]))
				}
				k(src[:n], dst[:2*n])
			}})
	}
	const chunk = 1<<16 + 3*16 + 5
	step := uint64(1)
	if testing.Short() {
		step = 251
	}
	buf := make([]float32, chunk+15)
	want := make([]byte, 2*chunk)
	got := make([]byte, 2*chunk+2)
	for c, u := 0, uint64(0); u < 1<<32; c++ {
		src := buf[c%16 : c%16+chunk]
		for i := range src {
			src[i] = math.Float32frombits(uint32(u))
			if u += step; u >= 1<<32 {
				src = src[:i+1]
				break
			}
		}
		for i, v := range src {
			binary.LittleEndian.PutUint16(want[2*i:], ref(v))
		}
		for j, p := range paths {
			if j == 0 && c%16 != 0 {
				// The portable loop is the reference's own
				// arithmetic: a sixteenth of the slices is plenty.
				continue
			}
			got[2*len(src)] = 0xa5
			p.run(src, got[:2*len(src)])
			if got[2*len(src)] != 0xa5 {
				t.Fatalf("%s: wrote past the end of a %d-value slice", p.name, len(src))
			}
			if bytes.Equal(got[:2*len(src)], want[:2*len(src)]) {
				continue
			}
			for i, v := range src {
				if g, w := binary.LittleEndian.Uint16(got[2*i:]), binary.LittleEndian.Uint16(want[2*i:]); g != w {
					t.Fatalf("%s: conversion of %#08x (value %d of %d): got %#04x, want %#04x", p.name, math.Float32bits(v), i, len(src), g, w)
				}
			}
		}
	}
}
