package intq

import (
	"fmt"
	"math"
	"testing"

	"github.com/x448/float16"
)

// ctDecoded is a compressed-tensors weight decoded by ctUnpack.
type ctDecoded struct {
	w      []float32 // (q - zp) · scale
	q, zp  []int     // signed, per element
	scale  []float32 // per element
	groups int
}

// ctUnpack reads pack-quantized tensors from the format description alone:
// weight_packed I32 [out, ceil(in/pf)], column pf·k+i at bits bits·i of
// word k, stored as q + 2^(bits-1); weight_scale [out, groups]; weight_shape
// I64 [out, in]; weight_zero_point I32 [ceil(out/pf), groups] packed along
// rows, stored as zp + 2^(bits-1), present only when asymmetric.
func ctUnpack(t *testing.T, stored []Stored, out, in int, s Scheme) ctDecoded {
	t.Helper()
	m := tensorMap(t, stored)
	pf := 32 / s.Bits
	words := (in + pf - 1) / pf
	gsz, groups := s.GroupSize, 0
	if gsz == -1 {
		gsz = in
	}
	groups = in / gsz
	packed := wantTensor(t, m, "weight_packed", "I32", int64(out), int64(words))
	scales := wantTensor(t, m, "weight_scale", s.ScaleDType, int64(out), int64(groups))
	shape := wantTensor(t, m, "weight_shape", "I64", 2)
	if i64At(shape.Data, 0) != int64(out) || i64At(shape.Data, 1) != int64(in) {
		t.Fatalf("weight_shape = [%d %d], want [%d %d]", i64At(shape.Data, 0), i64At(shape.Data, 1), out, in)
	}
	var zeros Stored
	if s.Symmetric {
		if _, ok := m["weight_zero_point"]; ok {
			t.Fatal("symmetric weight has a weight_zero_point")
		}
	} else {
		zeros = wantTensor(t, m, "weight_zero_point", "I32", int64((out+pf-1)/pf), int64(groups))
	}
	if len(m) != 3+map[bool]int{true: 0, false: 1}[s.Symmetric] {
		t.Fatalf("unexpected tensors: %d", len(m))
	}
	mask, off := 1<<s.Bits-1, 1<<(s.Bits-1)
	d := ctDecoded{w: make([]float32, out*in), q: make([]int, out*in), zp: make([]int, out*in), scale: make([]float32, out*in), groups: groups}
	for r := 0; r < out; r++ {
		for c := 0; c < words*pf; c++ {
			word := u32At(packed.Data, r*words+c/pf)
			u := int(word>>(s.Bits*(c%pf))) & mask
			if c >= in {
				if u != 0 {
					t.Fatalf("row %d padding slot %d holds %d", r, c, u)
				}
				continue
			}
			g := c / gsz
			zp := 0
			if !s.Symmetric {
				zw := u32At(zeros.Data, (r/pf)*groups+g)
				zp = int(zw>>(s.Bits*(r%pf)))&mask - off
			}
			i := r*in + c
			d.q[i], d.zp[i] = u-off, zp
			d.scale[i] = floatAt(t, s.ScaleDType, scales.Data, r*groups+g)
			d.w[i] = float32(d.q[i]-zp) * d.scale[i]
		}
	}
	return d
}

// ctReference quantizes one group as compressed-tensors' calculate_qparams
// and quantize do, in float64 with explicit float32 roundings (exact for
// single float32 operations) and an independent dtype rounding.
func ctReference(seg []float32, s Scheme) (q []int, zp int, scale float32) {
	qmax := float64(int(1)<<(s.Bits-1) - 1)
	qmin := -qmax - 1
	lo, hi := 0.0, 0.0
	for _, x := range seg {
		lo = math.Min(lo, float64(x))
		hi = math.Max(hi, float64(x))
	}
	var raw float32
	if s.Symmetric {
		raw = float32(math.Max(-lo, hi) / ((qmax - qmin) / 2))
	} else {
		raw = float32((hi - lo) / (qmax - qmin))
	}
	raw = float32(math.Max(float64(raw), 1.0/(1<<23)))
	switch s.ScaleDType {
	case "BF16":
		scale = refBF16(raw)
	case "F16":
		scale = float16.Fromfloat32(raw).Float32()
	default:
		scale = raw
	}
	z := 0.0
	if !s.Symmetric {
		v := float64(float32(qmin - float64(float32(lo/float64(scale)))))
		z = math.RoundToEven(math.Min(math.Max(v, qmin), qmax))
	}
	for _, x := range seg {
		v := float64(float32(float64(float32(float64(x)/float64(scale))) + z))
		q = append(q, int(math.RoundToEven(math.Min(math.Max(v, qmin), qmax))))
	}
	return q, int(z), scale
}

func ctSchemes() []Scheme {
	var out []Scheme
	for _, bits := range []int{4, 8} {
		for _, g := range []int{32, 64, 128, -1} {
			for _, sym := range []bool{true, false} {
				for _, dt := range []string{"BF16", "F16", "F32"} {
					out = append(out, Scheme{Bits: bits, GroupSize: g, Symmetric: sym, ScaleDType: dt})
				}
			}
		}
	}
	return out
}

func TestCompressedTensorsRoundTrip(t *testing.T) {
	const out, in = 21, 256 // 21 rows: the zero-point words of the last rows are partly padding
	w := testMatrix(out, in, 1)
	for _, s := range ctSchemes() {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			stored, deq, err := CompressedTensors.Quantize(w, out, in, s)
			if err != nil {
				t.Fatal(err)
			}
			d := ctUnpack(t, stored, out, in, s)
			sameFloats(t, "package dequant vs independent decode", deq, d.w)
			back, err := CompressedTensors.Dequantize(stored, out, in, s)
			if err != nil {
				t.Fatal(err)
			}
			sameFloats(t, "Dequantize vs independent decode", back, d.w)

			qmax := 1<<(s.Bits-1) - 1
			gsz := s.GroupSize
			if gsz == -1 {
				gsz = in
			}
			for r := 0; r < out; r++ {
				for g := 0; g < in/gsz; g++ {
					c0 := r*in + g*gsz
					rq, rz, rs := ctReference(w[c0:c0+gsz], s)
					if d.scale[c0] != rs || d.zp[c0] != rz {
						t.Fatalf("row %d group %d: scale %g zp %d, reference %g %d", r, g, d.scale[c0], d.zp[c0], rs, rz)
					}
					for j := range rq {
						i := c0 + j
						if d.q[i] != rq[j] {
							t.Fatalf("row %d col %d: q %d, reference %d (x %g scale %g)", r, g*gsz+j, d.q[i], rq[j], w[i], rs)
						}
						if d.scale[i] != rs || d.zp[i] != rz {
							t.Fatalf("row %d col %d: group parameters vary inside the group", r, g*gsz+j)
						}
						tt := float64(w[i])/float64(rs) + float64(rz)
						checkStep(t, fmt.Sprintf("row %d col %d", r, g*gsz+j), w[i], d.w[i], float64(rs), tt, d.q[i], -qmax-1, qmax)
					}
				}
			}
		})
	}
}

func TestCompressedTensorsKnownWords(t *testing.T) {
	pattern := func(f func(j int) float32) []float32 {
		w := make([]float32, 32)
		for j := range w {
			w[j] = f(j)
		}
		return w
	}
	tests := []struct {
		name  string
		s     Scheme
		w     []float32
		words []uint32
		scale uint16 // BF16 bits
		zero  uint32 // weight_zero_point word, asymmetric only
		deq   func(j int, x float32) float32
	}{
		{
			// amax 7.5 gives scale 1; -7.5 is a tie that rounds to even -8,
			// so the stored nibbles are j%16.
			name: "4-bit sym",
			s:    Scheme{Bits: 4, GroupSize: 32, Symmetric: true, ScaleDType: "BF16"},
			w: pattern(func(j int) float32 {
				if j%16 == 0 {
					return -7.5
				}
				return float32(j%16 - 8)
			}),
			words: []uint32{0x76543210, 0xFEDCBA98, 0x76543210, 0xFEDCBA98}, scale: 0x3F80,
			deq: func(j int, x float32) float32 {
				if j%16 == 0 {
					return -8
				}
				return x
			},
		},
		{
			// amax 15.9375 = 127.5/8 gives scale 1/8; column 0 ties to -128.
			name: "8-bit sym",
			s:    Scheme{Bits: 8, GroupSize: 32, Symmetric: true, ScaleDType: "BF16"},
			w: pattern(func(j int) float32 {
				if j == 0 {
					return -15.9375
				}
				return float32(j-16) * 0.125
			}),
			words: []uint32{0x73727100, 0x77767574, 0x7B7A7978, 0x7F7E7D7C, 0x83828180, 0x87868584, 0x8B8A8988, 0x8F8E8D8C},
			scale: 0x3E00,
			deq: func(j int, x float32) float32 {
				if j == 0 {
					return -16
				}
				return x
			},
		},
		{
			// Range [-0.5, 1.375] gives scale 1/8 and zp round(-8+4) = -4,
			// stored as 4; q = x/s + zp = j%16 - 8 again.
			name:  "4-bit asym",
			s:     Scheme{Bits: 4, GroupSize: 32, Symmetric: false, ScaleDType: "BF16"},
			w:     pattern(func(j int) float32 { return float32(j%16-4) * 0.125 }),
			words: []uint32{0x76543210, 0xFEDCBA98, 0x76543210, 0xFEDCBA98}, scale: 0x3E00, zero: 4,
			deq: func(j int, x float32) float32 { return x },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stored, deq, err := CompressedTensors.Quantize(tc.w, 1, 32, tc.s)
			if err != nil {
				t.Fatal(err)
			}
			m := tensorMap(t, stored)
			p := m["weight_packed"].Data
			for k, want := range tc.words {
				if got := u32At(p, k); got != want {
					t.Errorf("word %d = %#08x, want %#08x", k, got, want)
				}
			}
			sd := wantTensor(t, m, "weight_scale", "BF16", 1, 1).Data
			if got := uint16(sd[0]) | uint16(sd[1])<<8; got != tc.scale {
				t.Errorf("scale bits %#04x, want %#04x", got, tc.scale)
			}
			if !tc.s.Symmetric {
				if got := u32At(m["weight_zero_point"].Data, 0); got != tc.zero {
					t.Errorf("zero point word %#x, want %#x", got, tc.zero)
				}
			}
			for j := range 32 {
				if want := tc.deq(j, tc.w[j]); deq[j] != want {
					t.Errorf("deq[%d] = %g, want %g", j, deq[j], want)
				}
			}
		})
	}
}

// Stored values of a symmetric 4-bit weight cover 0..15 and are q + 8.
func TestCompressedTensorsStoredRange(t *testing.T) {
	const out, in = 8, 128
	w := testMatrix(out, in, 2)
	s := Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}
	stored, _, err := CompressedTensors.Quantize(w, out, in, s)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	d := ctUnpack(t, stored, out, in, s)
	for i, q := range d.q {
		if q < -8 || q > 7 {
			t.Fatalf("q[%d] = %d", i, q)
		}
		seen[q+8] = true
	}
	if !seen[1] || !seen[15] || !seen[8] {
		t.Fatalf("stored values seen: %v; want 1, 8 and 15 among them", seen)
	}
	// The all-zero row keeps scale eps and stores 8 everywhere.
	if d.scale[0] != 1.0/(1<<23) {
		t.Fatalf("all-zero row scale %g, want 2^-23", d.scale[0])
	}
	for c := 0; c < in; c++ {
		if d.q[c] != 0 {
			t.Fatalf("all-zero row q[%d] = %d", c, d.q[c])
		}
	}
}

// Per-channel rows of a length that is not a multiple of 8 end in a padded
// word, as compressed-tensors pads with zeros.
func TestCompressedTensorsChannelPadding(t *testing.T) {
	const out, in = 3, 36
	w := testMatrix(out+6, in, 3)[6*in:]
	for _, bits := range []int{4, 8} {
		s := Scheme{Bits: bits, GroupSize: -1, Symmetric: bits == 4, ScaleDType: "F16"}
		stored, deq, err := CompressedTensors.Quantize(w, out, in, s)
		if err != nil {
			t.Fatal(err)
		}
		d := ctUnpack(t, stored, out, in, s) // checks the padding slots are zero
		sameFloats(t, "deq", deq, d.w)
	}
}
