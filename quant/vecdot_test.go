package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

var vecDotTypes = []ggml.Type{ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1, ggml.Q8_0,
	ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K}

// actBlock is the activation block size VecDot pairs with a weight type.
func actBlock(t ggml.Type) int {
	if t.BlockSize() == 256 {
		return 256
	}
	return 32
}

// dotBound bounds |VecDot(w, x) − Σ ŵ·x| where ŵ is the dequantized row.
// VecDot multiplies ŵ by the quantized activations x̂, so the difference is
// Σ ŵ·(x̂ − x) plus float32 rounding:
//
//   - Q8_0/Q8_1 blocks: q = round(x/d), d = amax/127, x̂ = fp16(d)·q, so
//     |x − x̂| ≤ δ = 0.5001·d + 127·|d − fp16(d)| (the 0.0001 covers the
//     float32 reciprocal). For Q4_1/Q5_1 the offset m multiplies
//     s = fp16(d·Σq) instead of Σx: add |m|·(32·δ + 2^-11·|d·Σq| + 2^-25).
//   - Q8_K blocks: x̂ = d·q with d = max/−127 in float32: δ = 0.5001·|d|.
//   - Rounding: every float32 step of the kernel and of the dequantizer is
//     within 2^-24 relative of a term bounded by (|ŵ| + O)·(|x| + δ), O the
//     block's largest |ŵ| (which also bounds the K-quant min offsets up to
//     a factor 2); ≤ 256 blocks accumulate, so 2^-14 covers it 4× over.
func dotBound(t ggml.Type, w []byte, wd, x []float32) float64 {
	ab := actBlock(t)
	var sum float64
	for b := 0; b < len(x)/ab; b++ {
		xs := x[b*ab : (b+1)*ab]
		ws := wd[b*ab : (b+1)*ab]
		var amax, max float64
		var sumAbsX float64
		for _, v := range xs {
			a := math.Abs(float64(v))
			sumAbsX += a
			if a > amax {
				amax, max = a, float64(v)
			}
		}
		var delta float64
		if ab == 32 {
			d := float32(amax) / 127
			delta = 0.5001*float64(d) + 127*math.Abs(float64(d)-float64(F16ToF32(F32ToF16(d))))
		} else {
			delta = 0.5001 * math.Abs(max/127)
		}
		var o float64
		for _, v := range ws {
			o = math.Max(o, math.Abs(float64(v)))
		}
		for i, v := range ws {
			aw := math.Abs(float64(v))
			sum += aw*delta + 0x1p-14*(aw+o)*(math.Abs(float64(xs[i]))+delta)
		}
		if t == ggml.Q4_1 || t == ggml.Q5_1 {
			bs := t.TypeSize()
			m := math.Abs(float64(F16ToF32(binary.LittleEndian.Uint16(w[b*bs+2:]))))
			d := amax / 127
			sum += m * (32*delta + 0x1p-11*(sumAbsX+16*d) + 0x1p-25)
		}
	}
	return sum
}

// checkVecDot compares VecDot with the float64 dot of the dequantized row
// and returns the bound used and Σ|ŵ·x|.
func checkVecDot(t *testing.T, typ ggml.Type, w []byte, x []float32, what string) (bound, mag float64) {
	t.Helper()
	got, err := VecDot(typ, w, x)
	if err != nil {
		t.Fatal(err)
	}
	wd := make([]float32, len(x))
	if err := Dequantize(typ, w, wd); err != nil {
		t.Fatal(err)
	}
	var want float64
	for i := range x {
		want += float64(wd[i]) * float64(x[i])
		mag += math.Abs(float64(wd[i]) * float64(x[i]))
	}
	bound = dotBound(typ, w, wd, x)
	if diff := math.Abs(float64(got) - want); !(diff <= bound) {
		t.Errorf("%s %s: VecDot = %g, float dot = %g, |diff| %g > bound %g", typ, what, got, want, diff, bound)
	}
	return bound, mag
}

func TestVecDotRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, typ := range vecDotTypes {
		for _, n := range []int{256, 4096} {
			for trial := range 20 {
				wf := make([]float32, n)
				x := make([]float32, n)
				for i := range wf {
					wf[i] = float32(r.NormFloat64() * 0.02)
					x[i] = float32(r.NormFloat64())
					if trial%2 == 1 { // one-signed, offset activations
						x[i] = float32(math.Abs(r.NormFloat64())) + 0.5
					}
				}
				size, _ := typ.RowSize(int64(n))
				w := make([]byte, size)
				if err := Quantize(typ, wf, w); err != nil {
					t.Fatal(err)
				}
				bound, mag := checkVecDot(t, typ, w, x, "random")
				// For Gaussian data the bound must stay informative.
				if bound > 0.1*mag {
					t.Errorf("%s: bound %g is %.1f%% of Σ|ŵ·x|", typ, bound, 100*bound/mag)
				}
			}
		}
	}
}

// TestVecDotGolden dots ggml's own encoded rows with other rows of the
// same inputs.
func TestVecDotGolden(t *testing.T) {
	for _, in := range kGoldenInputs {
		src := readF32File(t, filepath.Join("testdata", "ggml-golden", in+".f32"))
		rows := len(src) / 256
		for _, typ := range vecDotTypes {
			bin := readGolden(t, in+"."+typ.String()+".bin")
			rb := len(bin) / rows
			for r := range rows {
				x := src[((r+1)%rows)*256:][:256]
				checkVecDot(t, typ, bin[r*rb:(r+1)*rb], x, in)
			}
		}
	}
}

func TestVecDotZeroActivations(t *testing.T) {
	x := make([]float32, 256)
	wf := make([]float32, 256)
	for i := range wf {
		wf[i] = float32(i%7) - 3
	}
	for _, typ := range vecDotTypes {
		size, _ := typ.RowSize(256)
		w := make([]byte, size)
		if err := Quantize(typ, wf, w); err != nil {
			t.Fatal(err)
		}
		if got, err := VecDot(typ, w, x); err != nil || got != 0 {
			t.Errorf("%s: VecDot with zero x = %g, %v; want 0", typ, got, err)
		}
	}
}

func TestVecDotErrors(t *testing.T) {
	x := make([]float32, 256)
	tests := []struct {
		name string
		typ  ggml.Type
		w    []byte
		x    []float32
	}{
		{"unsupported type", ggml.F32, make([]byte, 1024), x},
		{"no kernel", ggml.IQ2_XXS, make([]byte, 66), x},
		{"short row", ggml.Q4_K, make([]byte, 143), x},
		{"long row", ggml.Q8_0, make([]byte, 8*34+1), x},
		{"partial block", ggml.Q6_K, make([]byte, 210), x[:200]},
		{"partial q8_0 block", ggml.Q8_0, make([]byte, 34), x[:31]},
	}
	for _, tc := range tests {
		if _, err := VecDot(tc.typ, tc.w, tc.x); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func BenchmarkVecDot(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 4096
	x := make([]float32, n)
	wf := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
		wf[i] = float32(r.NormFloat64() * 0.02)
	}
	for _, typ := range vecDotTypes {
		b.Run(typ.String(), func(b *testing.B) {
			size, _ := typ.RowSize(n)
			w := make([]byte, size)
			if err := Quantize(typ, wf, w); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(n * 4)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := VecDot(typ, w, x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
