package intq

import (
	"fmt"
	"math"
	"testing"

	"github.com/x448/float16"
)

// gptqDecoded is a GPTQ weight decoded by gptqUnpack.
type gptqDecoded struct {
	w      []float32 // scale · (q - (z+1))
	q      []int     // stored 0..maxq, per element
	zero   []int     // z+1, per element
	scale  []float32 // per element
	groups int
}

// gptqUnpack reads AutoGPTQ v1 tensors from the format description alone:
// qweight I32 [in/pf, out] with input pf·r+k of output o at bits bits·k of
// qweight[r][o]; qzeros I32 [groups, out/pf] packed along outputs, holding
// zero-1; scales F16 [groups, out]; g_idx I32 [in].
func gptqUnpack(t *testing.T, stored []Stored, out, in int, s Scheme) gptqDecoded {
	t.Helper()
	m := tensorMap(t, stored)
	if len(m) != 4 {
		t.Fatalf("%d tensors, want 4", len(m))
	}
	pf := 32 / s.Bits
	gsz := s.GroupSize
	if gsz == -1 {
		gsz = in
	}
	groups := (in + gsz - 1) / gsz
	qweight := wantTensor(t, m, "qweight", "I32", int64(in/pf), int64(out))
	qzeros := wantTensor(t, m, "qzeros", "I32", int64(groups), int64(out/pf))
	scales := wantTensor(t, m, "scales", "F16", int64(groups), int64(out))
	gidx := wantTensor(t, m, "g_idx", "I32", int64(in))
	mask := 1<<s.Bits - 1
	d := gptqDecoded{w: make([]float32, out*in), q: make([]int, out*in), zero: make([]int, out*in), scale: make([]float32, out*in), groups: groups}
	for i := 0; i < in; i++ {
		g := int(i32At(gidx.Data, i))
		if g != i/gsz {
			t.Fatalf("g_idx[%d] = %d, want %d", i, g, i/gsz)
		}
		for o := 0; o < out; o++ {
			q := int(u32At(qweight.Data, (i/pf)*out+o)>>(s.Bits*(i%pf))) & mask
			z := int(u32At(qzeros.Data, g*(out/pf)+o/pf)>>(s.Bits*(o%pf)))&mask + 1
			sc := floatAt(t, "F16", scales.Data, g*out+o)
			k := o*in + i
			d.q[k], d.zero[k], d.scale[k] = q, z, sc
			d.w[k] = float32(q-z) * sc
		}
	}
	return d
}

// gptqReference is AutoGPTQ's symmetric Quantizer.find_params and quantize
// for one group, in float64 with explicit float32 roundings, with the
// package's documented floor for degenerate groups.
func gptqReference(seg []float32, s Scheme) (q []int, scale float32) {
	maxq := float64(int(1)<<s.Bits - 1)
	xmin, xmax := 0.0, 0.0
	for _, x := range seg {
		xmin = math.Min(xmin, float64(x))
		xmax = math.Max(xmax, float64(x))
	}
	xmax = math.Max(-xmin, xmax)
	xmin = -xmax
	if xmax == 0 {
		xmin, xmax = -1, 1
	}
	raw := float32((xmax - xmin) / maxq)
	raw = float32(math.Max(float64(raw), 1.0/(1<<23)))
	if s.ScaleDType == "BF16" && raw >= 1.0/(1<<17) {
		raw = refBF16(raw)
	}
	scale = float16.Fromfloat32(raw).Float32()
	zero := (maxq + 1) / 2
	for _, x := range seg {
		v := math.RoundToEven(float64(float32(float64(x)/float64(scale)))) + zero
		q = append(q, int(math.Min(math.Max(v, 0), maxq)))
	}
	return q, scale
}

func gptqSchemes() []Scheme {
	var out []Scheme
	for _, bits := range []int{4, 8} {
		for _, g := range []int{32, 64, 128, -1} {
			for _, dt := range []string{"F16", "BF16", ""} {
				out = append(out, Scheme{Bits: bits, GroupSize: g, Symmetric: true, ScaleDType: dt})
			}
		}
	}
	return out
}

func TestGPTQRoundTrip(t *testing.T) {
	const out, in = 64, 256
	w := testMatrix(out, in, 4)
	for _, s := range gptqSchemes() {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			stored, deq, err := GPTQ.Quantize(w, out, in, s)
			if err != nil {
				t.Fatal(err)
			}
			d := gptqUnpack(t, stored, out, in, s)
			sameFloats(t, "package dequant vs independent decode", deq, d.w)
			back, err := GPTQ.Dequantize(stored, out, in, s)
			if err != nil {
				t.Fatal(err)
			}
			sameFloats(t, "Dequantize vs independent decode", back, d.w)

			maxq := 1<<s.Bits - 1
			zero := 1 << (s.Bits - 1)
			gsz := s.GroupSize
			if gsz == -1 {
				gsz = in
			}
			for o := 0; o < out; o++ {
				for g := 0; g < in/gsz; g++ {
					c0 := o*in + g*gsz
					rq, rs := gptqReference(w[c0:c0+gsz], s)
					for j := range rq {
						k := c0 + j
						if d.zero[k] != zero {
							t.Fatalf("out %d in %d: zero %d, want %d", o, g*gsz+j, d.zero[k], zero)
						}
						if d.scale[k] != rs || d.q[k] != rq[j] {
							t.Fatalf("out %d in %d: q %d scale %g, reference %d %g", o, g*gsz+j, d.q[k], d.scale[k], rq[j], rs)
						}
						if s.ScaleDType == "BF16" && refBF16(rs) != rs {
							t.Fatalf("scale %g is not exact in bfloat16", rs)
						}
						tt := float64(w[k]) / float64(rs)
						checkStep(t, fmt.Sprintf("out %d in %d", o, g*gsz+j), w[k], d.w[k], float64(rs), tt, d.q[k]-zero, -zero, maxq-zero)
					}
				}
			}
		})
	}
}

func TestGPTQKnownWords(t *testing.T) {
	// Each row repeats the 32-input patterns of
	// TestCompressedTensorsKnownWords. 4-bit: amax 7.5, scale 2·7.5/15 = 1,
	// q = x + 8, -7.5 ties to 0. 8-bit: amax 15.9375, scale 2·15.9375/255 =
	// 1/8, q = 8x + 128, -127.5 ties to 0. GPTQ stores q as compressed-tensors
	// stores q + 2^(bits-1), so the words are the same.
	tests := []struct {
		bits  int
		x     func(j int) float32
		deq0  float32 // dequantized value of input 0 (the tie)
		scale uint16
		words []uint32 // qweight rows, the same for every output
		zeros uint32
	}{
		{
			bits: 4,
			x: func(j int) float32 {
				if j%16 == 0 {
					return -7.5
				}
				return float32(j%16 - 8)
			},
			deq0: -8, scale: 0x3C00,
			words: []uint32{0x76543210, 0xFEDCBA98, 0x76543210, 0xFEDCBA98},
			zeros: 0x77777777,
		},
		{
			bits: 8,
			x: func(j int) float32 {
				if j == 0 {
					return -15.9375
				}
				return float32(j-16) * 0.125
			},
			deq0: -16, scale: 0x3000,
			words: []uint32{0x73727100, 0x77767574, 0x7B7A7978, 0x7F7E7D7C, 0x83828180, 0x87868584, 0x8B8A8988, 0x8F8E8D8C},
			zeros: 0x7F7F7F7F,
		},
	}
	const out, in = 32, 32
	for _, tc := range tests {
		w := make([]float32, out*in)
		for i := range w {
			w[i] = tc.x(i % in)
		}
		s := Scheme{Bits: tc.bits, GroupSize: 32, Symmetric: true, ScaleDType: "F16"}
		stored, deq, err := GPTQ.Quantize(w, out, in, s)
		if err != nil {
			t.Fatal(err)
		}
		m := tensorMap(t, stored)
		qz := wantTensor(t, m, "qzeros", "I32", 1, int64(out*tc.bits/32))
		for k := 0; k < out*tc.bits/32; k++ {
			if got := u32At(qz.Data, k); got != tc.zeros {
				t.Fatalf("%d-bit qzeros[0][%d] = %#08x, want %#08x", tc.bits, k, got, tc.zeros)
			}
		}
		sc := wantTensor(t, m, "scales", "F16", 1, out)
		for o := 0; o < out; o++ {
			if h := uint16(sc.Data[2*o]) | uint16(sc.Data[2*o+1])<<8; h != tc.scale {
				t.Fatalf("%d-bit scales[0][%d] bits %#04x, want %#04x", tc.bits, o, h, tc.scale)
			}
		}
		qw := wantTensor(t, m, "qweight", "I32", int64(in*tc.bits/32), out)
		for r, want := range tc.words {
			for o := 0; o < out; o++ {
				if got := u32At(qw.Data, r*out+o); got != want {
					t.Fatalf("%d-bit qweight[%d][%d] = %#08x, want %#08x", tc.bits, r, o, got, want)
				}
			}
		}
		gi := wantTensor(t, m, "g_idx", "I32", in)
		for i := 0; i < in; i++ {
			if i32At(gi.Data, i) != 0 {
				t.Fatalf("g_idx[%d] = %d", i, i32At(gi.Data, i))
			}
		}
		for i, x := range w {
			want := x
			if x == tc.x(0) {
				want = tc.deq0
			}
			if deq[i] != want {
				t.Fatalf("%d-bit deq[%d] = %g, want %g", tc.bits, i, deq[i], want)
			}
		}
	}
}

// The g_idx of grouped weights counts groups along the input.
func TestGPTQGroupIndex(t *testing.T) {
	const out, in = 32, 256
	stored, _, err := GPTQ.Quantize(testMatrix(out, in, 5), out, in, Scheme{Bits: 4, GroupSize: 64, Symmetric: true})
	if err != nil {
		t.Fatal(err)
	}
	gi := wantTensor(t, tensorMap(t, stored), "g_idx", "I32", in)
	for i := 0; i < in; i++ {
		if got := i32At(gi.Data, i); got != int32(i/64) {
			t.Fatalf("g_idx[%d] = %d, want %d", i, got, i/64)
		}
	}
}

// A bf16 engine converts the F16 scales on load; with ScaleDType BF16 the
// conversion must be lossless even for tiny scales that are F16 subnormals.
func TestGPTQScalesForBF16Engine(t *testing.T) {
	for _, raw := range []float32{1e-7, 3e-7, 1.234e-6, 7.5e-6, 1.0 / (1 << 17), 2.9e-5, 6.1e-5, 0.001234, 0.0371, 1.7, 300.3} {
		v, h := gptqScale(raw, true)
		if f := float16.Frombits(h).Float32(); f != v {
			t.Fatalf("raw %g: value %g but F16 bits decode to %g", raw, v, f)
		}
		if refBF16(v) != v {
			t.Fatalf("raw %g: scale %g not exact in bfloat16", raw, v)
		}
		// Half a bf16 step, or half the F16 subnormal step 2^-24 below 2^-17.
		if d := math.Abs(float64(v) - float64(raw)); d > float64(raw)/256 && d > 1.0/(1<<25) {
			t.Fatalf("raw %g: scale %g off by %g", raw, v, d)
		}
	}
}
