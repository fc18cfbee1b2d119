package intq

import (
	"fmt"
	"math"
	"testing"

	"github.com/x448/float16"
)

// mlxDecoded is an MLX weight decoded by mlxUnpack.
type mlxDecoded struct {
	w           []float32 // scale·q + bias
	q           []int
	scale, bias []float32 // per element
}

// mlxUnpack reads mlx-lm tensors from the format description alone: weight
// U32 [out, in·bits/32], element j of a row at bits bits·(j%(32/bits)) of
// word j/(32/bits); scales and biases [out, in/group]; w = scale·q + bias.
func mlxUnpack(t *testing.T, stored []Stored, out, in int, s Scheme) mlxDecoded {
	t.Helper()
	m := tensorMap(t, stored)
	if len(m) != 3 {
		t.Fatalf("%d tensors, want 3", len(m))
	}
	pf := 32 / s.Bits
	groups := in / s.GroupSize
	wt := wantTensor(t, m, "weight", "U32", int64(out), int64(in*s.Bits/32))
	sc := wantTensor(t, m, "scales", s.ScaleDType, int64(out), int64(groups))
	bi := wantTensor(t, m, "biases", s.ScaleDType, int64(out), int64(groups))
	mask := 1<<s.Bits - 1
	d := mlxDecoded{w: make([]float32, out*in), q: make([]int, out*in), scale: make([]float32, out*in), bias: make([]float32, out*in)}
	for r := 0; r < out; r++ {
		for j := 0; j < in; j++ {
			q := int(u32At(wt.Data, r*(in/pf)+j/pf)>>(s.Bits*(j%pf))) & mask
			g := r*groups + j/s.GroupSize
			i := r*in + j
			d.q[i] = q
			d.scale[i] = floatAt(t, s.ScaleDType, sc.Data, g)
			d.bias[i] = floatAt(t, s.ScaleDType, bi.Data, g)
			d.w[i] = float32(d.scale[i]*float32(q)) + d.bias[i]
		}
	}
	return d
}

// mlxReference follows mlx/backend/cpu/quantized.cpp quantize() for one
// group, with float64 arithmetic rounded to float32 after each operation
// (exact for single operations) and math.RoundToEven for std::rint.
func mlxReference(seg []float32, bits int) (q []int, scale, bias float32) {
	f := func(v float64) float64 { return float64(float32(v)) }
	nbins := float64(int(1)<<bits - 1)
	wmin, wmax := math.Inf(1), math.Inf(-1)
	for _, x := range seg {
		wmax = math.Max(wmax, float64(x))
		wmin = math.Min(wmin, float64(x))
	}
	mask := math.Abs(wmin) > math.Abs(wmax)
	sc := math.Max(f((wmax-wmin)/nbins), float64(float32(1e-7)))
	if !mask {
		sc = -sc
	}
	edge := wmax
	if mask {
		edge = wmin
	}
	q0 := math.RoundToEven(f(edge / sc))
	b := 0.0
	if q0 != 0 {
		sc = f(edge / q0)
		b = edge
	}
	for _, x := range seg {
		v := math.RoundToEven(f((f(float64(x) - b)) / sc))
		q = append(q, int(math.Min(math.Max(v, 0), nbins)))
	}
	return q, float32(sc), float32(b)
}

func roundTo(t *testing.T, dtype string, v float32) float32 {
	switch dtype {
	case "BF16":
		return refBF16(v)
	case "F16":
		return float16.Fromfloat32(v).Float32()
	case "F32":
		return v
	}
	t.Fatalf("dtype %q", dtype)
	return 0
}

func TestMLXRoundTrip(t *testing.T) {
	const out, in = 24, 256
	w := testMatrix(out, in, 6)
	for _, bits := range []int{4, 8} {
		for _, g := range []int{32, 64, 128} {
			for _, dt := range []string{"BF16", "F16", "F32"} {
				s := Scheme{Bits: bits, GroupSize: g, ScaleDType: dt}
				t.Run(fmt.Sprint(s), func(t *testing.T) {
					stored, deq, err := MLX.Quantize(w, out, in, s)
					if err != nil {
						t.Fatal(err)
					}
					d := mlxUnpack(t, stored, out, in, s)
					sameFloats(t, "package dequant vs independent decode", deq, d.w)
					back, err := MLX.Dequantize(stored, out, in, s)
					if err != nil {
						t.Fatal(err)
					}
					sameFloats(t, "Dequantize vs independent decode", back, d.w)
					nbins := 1<<bits - 1
					for r := 0; r < out; r++ {
						for k := 0; k < in/g; k++ {
							c0 := r*in + k*g
							rq, rs, rb := mlxReference(w[c0:c0+g], bits)
							if d.scale[c0] != roundTo(t, dt, rs) || d.bias[c0] != roundTo(t, dt, rb) {
								t.Fatalf("row %d group %d: scale %g bias %g, reference %g %g", r, k, d.scale[c0], d.bias[c0], rs, rb)
							}
							for j := range rq {
								i := c0 + j
								if d.q[i] != rq[j] {
									t.Fatalf("row %d col %d: q %d, reference %d", r, k*g+j, d.q[i], rq[j])
								}
								// q was chosen with the unrounded scale and bias.
								tt := (float64(w[i]) - float64(rb)) / float64(rs)
								where := fmt.Sprintf("row %d col %d", r, k*g+j)
								if dt == "F32" {
									checkStep(t, where, w[i], d.w[i], float64(rs), tt, d.q[i], 0, nbins)
									continue
								}
								// Rounded parameters move the grid by at most
								// q·|Δscale| + |Δbias|.
								// Both sides are float32 sums of float32 products:
								// allow half an ulp for each rounding.
								q := float64(d.q[i])
								shift := q*math.Abs(float64(d.scale[i])-float64(rs)) + math.Abs(float64(d.bias[i])-float64(rb))
								ref := float32(rs*float32(d.q[i])) + rb
								ulps := (q*math.Abs(float64(rs)) + q*math.Abs(float64(d.scale[i])) + math.Abs(float64(ref)) + math.Abs(float64(d.w[i]))) / (1 << 24)
								checkStep(t, where, w[i], ref, float64(rs), tt, d.q[i], 0, nbins)
								if e := math.Abs(float64(d.w[i]) - float64(ref)); e > shift+ulps {
									t.Fatalf("%s: stored grid moved %g, bound %g", where, e, shift+ulps)
								}
							}
						}
					}
				})
			}
		}
	}
}

func TestMLXKnownWords(t *testing.T) {
	// Values j%16: w_min 0, w_max 15, so |w_min| > |w_max| is false and the
	// scale is negated: scale -1, edge 15, q0 = -15, bias 15, q = 15 - x.
	w := make([]float32, 32)
	for j := range w {
		w[j] = float32(j % 16)
	}
	s := Scheme{Bits: 4, GroupSize: 32, ScaleDType: "BF16"}
	stored, deq, err := MLX.Quantize(w, 1, 32, s)
	if err != nil {
		t.Fatal(err)
	}
	m := tensorMap(t, stored)
	wt := wantTensor(t, m, "weight", "U32", 1, 4)
	for k, want := range []uint32{0x89ABCDEF, 0x01234567, 0x89ABCDEF, 0x01234567} {
		if got := u32At(wt.Data, k); got != want {
			t.Errorf("word %d = %#08x, want %#08x", k, got, want)
		}
	}
	sc := wantTensor(t, m, "scales", "BF16", 1, 1).Data
	bi := wantTensor(t, m, "biases", "BF16", 1, 1).Data
	if h := uint16(sc[0]) | uint16(sc[1])<<8; h != 0xBF80 {
		t.Errorf("scale bits %#04x, want 0xBF80 (-1)", h)
	}
	if h := uint16(bi[0]) | uint16(bi[1])<<8; h != 0x4170 {
		t.Errorf("bias bits %#04x, want 0x4170 (15)", h)
	}
	sameFloats(t, "deq", deq, w)

	// 8-bit, -1 and 31 zeros: scale 1/255, q0 = -255, bias -1, zeros at q 255.
	w8 := make([]float32, 32)
	w8[0] = -1
	stored, deq, err = MLX.Quantize(w8, 1, 32, Scheme{Bits: 8, GroupSize: 32, ScaleDType: "F32"})
	if err != nil {
		t.Fatal(err)
	}
	d := mlxUnpack(t, stored, 1, 32, Scheme{Bits: 8, GroupSize: 32, ScaleDType: "F32"})
	if d.bias[0] != -1 || d.q[0] != 0 || d.q[1] != 255 {
		t.Errorf("8-bit: bias %g q[0] %d q[1] %d, want -1, 0, 255", d.bias[0], d.q[0], d.q[1])
	}
	sameFloats(t, "8-bit deq", deq, w8)
}
