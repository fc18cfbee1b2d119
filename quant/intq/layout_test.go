package intq

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
)

var layouts = []Layout{CompressedTensors, GPTQ, MLX}

func TestLayoutNames(t *testing.T) {
	for i, want := range []string{"compressed-tensors", "gptq", "mlx"} {
		if got := layouts[i].Name(); got != want {
			t.Errorf("Name() = %q, want %q", got, want)
		}
	}
}

func TestBadInputs(t *testing.T) {
	ct4 := Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}
	g4 := Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "F16"}
	m4 := Scheme{Bits: 4, GroupSize: 64, ScaleDType: "BF16"}
	with := func(s Scheme, f func(*Scheme)) Scheme { f(&s); return s }
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name    string
		l       Layout
		out, in int
		s       Scheme
		w       []float32 // nil: zeros of out×in
		want    error
		msg     string // substring of the error text
	}{
		{"ct bits 3", CompressedTensors, 8, 128, with(ct4, func(s *Scheme) { s.Bits = 3 }), nil, ErrUnsupported, "bits"},
		{"gptq bits 2", GPTQ, 32, 128, with(g4, func(s *Scheme) { s.Bits = 2 }), nil, ErrUnsupported, "bits"},
		{"mlx bits 16", MLX, 8, 128, with(m4, func(s *Scheme) { s.Bits = 16 }), nil, ErrUnsupported, "bits"},
		{"ct group 16", CompressedTensors, 8, 128, with(ct4, func(s *Scheme) { s.GroupSize = 16 }), nil, ErrUnsupported, "group size"},
		{"ct group 0", CompressedTensors, 8, 128, with(ct4, func(s *Scheme) { s.GroupSize = 0 }), nil, ErrUnsupported, "group size"},
		{"gptq group 256", GPTQ, 32, 256, with(g4, func(s *Scheme) { s.GroupSize = 256 }), nil, ErrUnsupported, "group size"},
		{"mlx per channel", MLX, 8, 128, with(m4, func(s *Scheme) { s.GroupSize = -1 }), nil, ErrUnsupported, "per-channel"},
		{"ct group does not divide", CompressedTensors, 8, 192, ct4, nil, ErrShape, "does not divide 192"},
		{"gptq group does not divide", GPTQ, 32, 96, with(g4, func(s *Scheme) { s.GroupSize = 64 }), nil, ErrShape, "does not divide"},
		{"mlx group does not divide", MLX, 8, 96, m4, nil, ErrShape, "does not divide"},
		{"gptq asymmetric", GPTQ, 32, 128, with(g4, func(s *Scheme) { s.Symmetric = false }), nil, ErrUnsupported, "symmetric"},
		{"gptq out not multiple of 32", GPTQ, 48, 128, g4, nil, ErrShape, "multiples of 32"},
		{"gptq in not multiple of 32", GPTQ, 32, 48, with(g4, func(s *Scheme) { s.GroupSize = -1 }), nil, ErrShape, "multiples of 32"},
		{"gptq F32 scales", GPTQ, 32, 128, with(g4, func(s *Scheme) { s.ScaleDType = "F32" }), nil, ErrUnsupported, "F16"},
		{"ct no scale dtype", CompressedTensors, 8, 128, with(ct4, func(s *Scheme) { s.ScaleDType = "" }), nil, ErrUnsupported, "scale dtype"},
		{"mlx scale dtype fp16", MLX, 8, 128, with(m4, func(s *Scheme) { s.ScaleDType = "fp16" }), nil, ErrUnsupported, "scale dtype"},
		{"zero rows", CompressedTensors, 0, 128, ct4, []float32{}, ErrShape, "0×128"},
		{"negative in", MLX, 8, -64, m4, []float32{}, ErrShape, "8×-64"},
		{"short weight", CompressedTensors, 8, 128, ct4, make([]float32, 8*128-1), ErrShape, "1023 values"},
		{"long weight", GPTQ, 32, 128, g4, make([]float32, 32*128+1), ErrShape, "4097 values"},
		{"NaN", CompressedTensors, 8, 128, ct4, withValue(8, 128, 3*128+17, nan), ErrNonFinite, "weight[3][17] (index 401) is NaN"},
		{"+Inf", GPTQ, 32, 128, g4, withValue(32, 128, 4095, inf), ErrNonFinite, "weight[31][127] (index 4095) is +Inf"},
		{"-Inf", MLX, 8, 128, m4, withValue(8, 128, 0, -inf), ErrNonFinite, "weight[0][0] (index 0) is -Inf"},
		{"ct F16 scale overflow", CompressedTensors, 8, 128, with(ct4, func(s *Scheme) { s.ScaleDType = "F16" }), withValue(8, 128, 200, 1e6), ErrRange, "row 1 group 0"},
		{"gptq scale overflow", GPTQ, 32, 128, g4, withValue(32, 128, 130, -6e5), ErrRange, "row 1 group 0"},
		{"mlx F16 bias overflow", MLX, 8, 128, with(m4, func(s *Scheme) { s.ScaleDType = "F16" }), withValue(8, 128, 64, 1e5), ErrRange, "row 0 group 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.w
			if w == nil {
				w = make([]float32, tc.out*tc.in)
			}
			stored, deq, err := tc.l.Quantize(w, tc.out, tc.in, tc.s)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "intq: "+tc.l.Name()+": ") {
				t.Fatalf("error %q lacks %q", err, tc.msg)
			}
			if stored != nil || deq != nil {
				t.Fatal("results returned with an error")
			}
		})
	}
}

func withValue(out, in, i int, v float32) []float32 {
	w := make([]float32, out*in)
	w[i] = v
	return w
}

func TestPlanRowRanges(t *testing.T) {
	ct := Scheme{Bits: 4, GroupSize: 64, Symmetric: false, ScaleDType: "BF16"}
	p, err := CompressedTensors.NewPlan(20, 64, ct)
	if err != nil {
		t.Fatal(err)
	}
	if p.RowAlign() != 8 {
		t.Fatalf("asymmetric 4-bit RowAlign %d, want 8", p.RowAlign())
	}
	bad := []struct {
		r0, r1, n, deq int
		msg            string
	}{
		{-1, 8, 9 * 64, 0, "outside"},
		{8, 21, 13 * 64, 0, "outside"},
		{9, 8, 0, 0, "outside"},
		{4, 8, 4 * 64, 0, "not aligned to 8"},
		{0, 12, 12 * 64, 0, "not aligned to 8"},
		{0, 8, 8*64 - 1, 0, "need 512 values"},
		{0, 8, 8 * 64, 5, "dequantized buffer"},
	}
	for _, b := range bad {
		var deq []float32
		if b.deq > 0 {
			deq = make([]float32, b.deq)
		}
		err := p.QuantizeRows(make([]float32, b.n), b.r0, b.r1, deq)
		if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("rows %d..%d: %v, want %q", b.r0, b.r1, err, b.msg)
		}
	}
	// The unaligned tail that ends the matrix is allowed, and empty ranges.
	if err := p.QuantizeRows(make([]float32, 4*64), 16, 20, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.QuantizeRows(nil, 8, 8, nil); err != nil {
		t.Fatal(err)
	}
	for _, l := range layouts {
		s := Scheme{Bits: 8, GroupSize: 32, Symmetric: true, ScaleDType: "F16"}
		p, err := l.NewPlan(32, 64, s)
		if err != nil {
			t.Fatal(err)
		}
		if p.RowAlign() != 1 {
			t.Errorf("%s symmetric RowAlign %d, want 1", l.Name(), p.RowAlign())
		}
	}
}

// Quantizing row ranges concurrently, in any split, gives Quantize's bytes,
// and repeated runs give the same bytes.
func TestDeterministicAndSplittable(t *testing.T) {
	const out, in = 96, 256
	w := testMatrix(out, in, 9)
	cases := []struct {
		l Layout
		s Scheme
	}{
		{CompressedTensors, Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}},
		{CompressedTensors, Scheme{Bits: 4, GroupSize: 32, Symmetric: false, ScaleDType: "F16"}},
		{CompressedTensors, Scheme{Bits: 8, GroupSize: -1, Symmetric: false, ScaleDType: "BF16"}},
		{GPTQ, Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}},
		{GPTQ, Scheme{Bits: 8, GroupSize: -1, Symmetric: true}},
		{MLX, Scheme{Bits: 4, GroupSize: 64, ScaleDType: "BF16"}},
		{MLX, Scheme{Bits: 8, GroupSize: 32, ScaleDType: "F32"}},
	}
	for _, tc := range cases {
		want, wantDeq, err := tc.l.Quantize(w, out, in, tc.s)
		if err != nil {
			t.Fatal(err)
		}
		again, againDeq, err := tc.l.Quantize(w, out, in, tc.s)
		if err != nil {
			t.Fatal(err)
		}
		sameTensors(t, want, again)
		sameFloats(t, "repeat deq", againDeq, wantDeq)

		for _, chunk := range []int{8, 16, 40} {
			p, err := tc.l.NewPlan(out, in, tc.s)
			if err != nil {
				t.Fatal(err)
			}
			// A stale plan must be overwritten cleanly: fill it twice.
			for pass := 0; pass < 2; pass++ {
				deq := make([]float32, out*in)
				var wg sync.WaitGroup
				errs := make([]error, out)
				for r0 := 0; r0 < out; r0 += chunk {
					r1 := min(r0+chunk, out)
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[r0] = p.QuantizeRows(w[r0*in:r1*in], r0, r1, deq[r0*in:r1*in])
					}()
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				sameTensors(t, want, p.Tensors())
				sameFloats(t, "split deq", deq, wantDeq)
			}
		}
	}
}

func TestDequantizeRejects(t *testing.T) {
	const out, in = 32, 128
	w := testMatrix(out, in, 10)
	mk := func(l Layout, s Scheme) []Stored {
		st, _, err := l.Quantize(w, out, in, s)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	ct := Scheme{Bits: 4, GroupSize: 64, Symmetric: false, ScaleDType: "BF16"}
	gq := Scheme{Bits: 4, GroupSize: 64, Symmetric: true}
	mx := Scheme{Bits: 4, GroupSize: 64, ScaleDType: "F16"}
	edit := func(st []Stored, i int, f func(*Stored)) []Stored {
		c := append([]Stored(nil), st...)
		f(&c[i])
		return c
	}
	ctSt, gqSt, mxSt := mk(CompressedTensors, ct), mk(GPTQ, gq), mk(MLX, mx)
	badGidx := edit(gqSt, 3, func(s *Stored) {
		s.Data = append([]byte(nil), s.Data...)
		s.Data[4*5] = 2 // g_idx[5] = 2 with 2 groups
	})
	tests := []struct {
		name string
		l    Layout
		s    Scheme
		st   []Stored
		msg  string
	}{
		{"missing zero point", CompressedTensors, ct, ctSt[:3], `"weight_zero_point" missing`},
		{"duplicate", CompressedTensors, ct, append(append([]Stored(nil), ctSt...), ctSt[0]), "given twice"},
		{"wrong dtype", CompressedTensors, ct, edit(ctSt, 1, func(s *Stored) { s.DType = "F16" }), `"weight_scale" is F16`},
		{"wrong shape", GPTQ, gq, edit(gqSt, 0, func(s *Stored) { s.Shape = []int64{32, 16} }), `"qweight" is I32 [32 16]`},
		{"short data", MLX, mx, edit(mxSt, 0, func(s *Stored) { s.Data = s.Data[1:] }), "holds 2047 bytes, want 2048"},
		{"scheme mismatch", MLX, Scheme{Bits: 8, GroupSize: 64, ScaleDType: "F16"}, mxSt, `"weight" is U32 [32 16], want U32 [32 32]`},
		{"g_idx out of range", GPTQ, gq, badGidx, "g_idx[5] = 2 outside 0..1"},
	}
	for _, tc := range tests {
		_, err := tc.l.Dequantize(tc.st, out, in, tc.s)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
		}
	}
	if _, err := GPTQ.Dequantize(gqSt, out, in, Scheme{Bits: 4, GroupSize: 64}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("asymmetric GPTQ scheme: %v", err)
	}
}

// FuzzDequantize feeds arbitrary tensor bytes of the expected shapes (and
// truncated ones) to every layout: it must decode or fail, never panic.
func FuzzDequantize(f *testing.F) {
	const out, in = 32, 64
	schemes := []struct {
		l Layout
		s Scheme
	}{
		{CompressedTensors, Scheme{Bits: 4, GroupSize: 32, Symmetric: true, ScaleDType: "BF16"}},
		{CompressedTensors, Scheme{Bits: 8, GroupSize: -1, Symmetric: false, ScaleDType: "F16"}},
		{GPTQ, Scheme{Bits: 4, GroupSize: 32, Symmetric: true}},
		{GPTQ, Scheme{Bits: 8, GroupSize: -1, Symmetric: true, ScaleDType: "BF16"}},
		{MLX, Scheme{Bits: 4, GroupSize: 32, ScaleDType: "BF16"}},
		{MLX, Scheme{Bits: 8, GroupSize: 64, ScaleDType: "F32"}},
	}
	w := testMatrix(out, in, 11)
	for i, sc := range schemes {
		st, _, err := sc.l.Quantize(w, out, in, sc.s)
		if err != nil {
			f.Fatal(err)
		}
		var raw []byte
		for _, t := range st {
			raw = append(raw, t.Data...)
		}
		f.Add(uint8(i), raw)
		f.Add(uint8(i), raw[:len(raw)/2])
	}
	f.Fuzz(func(t *testing.T, sel uint8, raw []byte) {
		sc := schemes[int(sel)%len(schemes)]
		p, err := sc.l.NewPlan(out, in, sc.s)
		if err != nil {
			t.Fatal(err)
		}
		var st []Stored
		for _, want := range p.Tensors() {
			n := min(len(raw), len(want.Data))
			st = append(st, Stored{Suffix: want.Suffix, DType: want.DType, Shape: want.Shape, Data: raw[:n]})
			raw = raw[n:]
		}
		dst, err := sc.l.Dequantize(st, out, in, sc.s)
		if err == nil && len(dst) != out*in {
			t.Fatalf("%d values", len(dst))
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
