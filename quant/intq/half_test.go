package intq

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mxq-dev/mxq/quant"
	"github.com/x448/float16"
)

// The scale dtypes round with quant's converters; these tests hold them to
// torch's and mlx's rounding as the formats here need it.
func TestF16Conversions(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		want := float16.Frombits(uint16(h)).Float32()
		got := quant.F16ToF32(uint16(h))
		if math.IsNaN(float64(want)) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("quant.F16ToF32(%#04x) = %g, want NaN", h, got)
			}
			continue
		}
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("quant.F16ToF32(%#04x) = %g, want %g", h, got, want)
		}
		// Every binary16 value survives the trip back.
		if back := quant.F32ToF16(got); back != uint16(h) {
			t.Fatalf("quant.F32ToF16(%g) = %#04x, want %#04x", got, back, h)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	edges := []float32{65504, 65519.99, 65520, 1e9, 6.1035156e-05, 6.1e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 1e-30, 0}
	for i := 0; i < 2_000_000+len(edges); i++ {
		var x float32
		if i < len(edges) {
			x = edges[i]
		} else {
			// Random bit patterns across the whole float32 range, and
			// neighbours of binary16 rounding boundaries.
			x = math.Float32frombits(r.Uint32())
			if i%2 == 0 {
				x = float16.Frombits(uint16(r.Uint32())).Float32()
				x = math.Float32frombits(math.Float32bits(x) + uint32(r.IntN(1<<13+1)) - 1<<12)
			}
		}
		if math.IsNaN(float64(x)) {
			if h := quant.F32ToF16(x); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
				t.Fatalf("quant.F32ToF16(NaN) = %#04x", h)
			}
			continue
		}
		for _, v := range []float32{x, -x} {
			if got, want := quant.F32ToF16(v), float16.Fromfloat32(v).Bits(); got != want {
				t.Fatalf("quant.F32ToF16(%g [%#08x]) = %#04x, want %#04x", v, math.Float32bits(v), got, want)
			}
		}
	}
}

func TestBF16Conversions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1_000_000; i++ {
		x := math.Float32frombits(r.Uint32() &^ 0x80000000 % 0x7f7f0000)
		if i%3 == 0 { // exact ties
			x = math.Float32frombits(math.Float32bits(x)&^0xffff | 0x8000)
		}
		for _, v := range []float32{x, -x} {
			if got, want := quant.BF16ToF32(quant.F32ToBF16(v)), refBF16(v); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("bf16(%g [%#08x]) = %g, want %g", v, math.Float32bits(v), got, want)
			}
		}
	}
	if h := quant.F32ToBF16(math.MaxFloat32); h != 0x7f80 {
		t.Fatalf("bf16(MaxFloat32) = %#04x, want +Inf", h)
	}
	if h := quant.F32ToBF16(float32(math.NaN())); h&0x7f80 != 0x7f80 || h&0x7f == 0 {
		t.Fatalf("bf16(NaN) = %#04x", h)
	}
}

func TestRint(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []float32{0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 7.5, -8.5, 127.5, -128.5, 1 << 22, 1<<22 + 0.5, 1<<22 + 1.5, -(1<<22 + 0.5), 1<<23 - 0.5, 1 << 23, 3e9, -3e9, 0.49999997, -0.49999997}
	for i := 0; i < 1_000_000; i++ {
		var x float32
		switch i % 3 {
		case 0:
			x = float32(r.NormFloat64() * 300)
		case 1:
			x = float32(r.IntN(1<<25)-1<<24) / 2 // halves up to 2^23
		default:
			x = math.Float32frombits(r.Uint32()&^0x7f800000 | uint32(r.IntN(30)+110)<<23)
		}
		cases = append(cases, x)
	}
	for _, x := range cases {
		want := float32(math.RoundToEven(float64(x)))
		if got := rint(x); got != want {
			t.Fatalf("rint(%v) = %v, want %v", x, got, want)
		}
	}
}
