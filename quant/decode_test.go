package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// decoderCases are the types with SIMD block decoders: where the float16
// scales sit in a block, and the field of decoders to switch off.
var decoderCases = []struct {
	typ    ggml.Type
	halves []int
	field  func(*blockDecoders) *func(src []byte, dst []float32)
}{
	{ggml.Q4_K, []int{0, 2}, func(d *blockDecoders) *func([]byte, []float32) { return &d.q4K }},
	{ggml.Q5_K, []int{0, 2}, func(d *blockDecoders) *func([]byte, []float32) { return &d.q5K }},
	{ggml.Q6_K, []int{208}, func(d *blockDecoders) *func([]byte, []float32) { return &d.q6K }},
	{ggml.Q8_0, []int{0}, func(d *blockDecoders) *func([]byte, []float32) { return &d.q8_0 }},
	{ggml.Q4_0, []int{0}, func(d *blockDecoders) *func([]byte, []float32) { return &d.q4_0 }},
}

// portable runs f with the SIMD decoder of the case switched off.
func portable(field *func([]byte, []float32), f func()) {
	saved := *field
	*field = nil
	defer func() { *field = saved }()
	f()
}

// Blocks of random bytes (every scale, minimum and code pattern, float16
// scales of every class: zero, subnormal, normal, infinite and NaN, whose
// payload the conversion keeps) decode bit for bit as the portable loops
// do, through BlockDecoder and in runs of any length.
func TestBlockDecodersMatchPortable(t *testing.T) {
	for _, tc := range decoderCases {
		t.Run(tc.typ.String(), func(t *testing.T) {
			field := tc.field(&decoders)
			if *field == nil {
				t.Skip("no SIMD decoder on this machine")
			}
			decode, ok := BlockDecoder(tc.typ)
			if !ok {
				t.Fatal("no decoder")
			}
			const blocks = 777
			size, bs := int(tc.typ.TypeSize()), tc.typ.BlockSize()
			rng := rand.New(rand.NewPCG(4, uint64(size)))
			src := make([]byte, blocks*size)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			special := []uint16{0, 0x8000, 0x0001, 0x83ff, 0x3c00, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfd55}
			for i, h := range special {
				for _, k := range tc.halves {
					src[i*size+k], src[i*size+k+1] = byte(h), byte(h>>8)
				}
			}
			want := make([]float32, blocks*bs)
			portable(field, func() { decode(src, want) })
			for _, n := range []int{blocks, 1, 2, 5} {
				got := make([]float32, n*bs+1)
				got[n*bs] = 42
				decode(src, got[:n*bs])
				if got[n*bs] != 42 {
					t.Fatalf("%d blocks: wrote past the end", n)
				}
				for i := range n * bs {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%d blocks: value %d (block %d): SIMD %v (%#x), portable %v (%#x)", n, i, i/bs, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		})
	}
}

// Quantized weights round-trip to the same values with and without the
// SIMD decoders (the common case, beside the random bytes above).
func TestBlockDecodersQuantized(t *testing.T) {
	src := benchRows()[:64*256]
	for _, tc := range decoderCases {
		field := tc.field(&decoders)
		if *field == nil {
			continue
		}
		size, _ := tc.typ.RowSize(int64(len(src)))
		q := make([]byte, size)
		if err := Quantize(tc.typ, src, q); err != nil {
			t.Fatal(err)
		}
		want, got := make([]float32, len(src)), make([]float32, len(src))
		portable(field, func() {
			if err := DequantizeRows(tc.typ, q, 512, want, 3); err != nil {
				t.Fatal(err)
			}
		})
		if err := DequantizeRows(tc.typ, q, 512, got, 3); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: value %d: SIMD %v, portable %v", tc.typ, i, got[i], want[i])
			}
		}
	}
}

// A source shorter than the blocks asked for panics instead of being read
// past its end.
func TestBlockDecoderShortSource(t *testing.T) {
	for _, tc := range decoderCases {
		decode, _ := BlockDecoder(tc.typ)
		src := make([]byte, int(tc.typ.TypeSize())-1)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: short source accepted", tc.typ)
				}
			}()
			decode(src, make([]float32, tc.typ.BlockSize()))
		}()
	}
}

// BenchmarkBlockDecoder decodes one block-row of 256 values at a time, as
// a matrix product's panels do, and reports Mweights/s.
func BenchmarkBlockDecoder(b *testing.B) {
	src := benchRows()
	for _, tc := range decoderCases {
		size, _ := tc.typ.RowSize(int64(len(src)))
		q := make([]byte, size)
		if err := Quantize(tc.typ, src, q); err != nil {
			b.Fatal(err)
		}
		rb, _ := tc.typ.RowSize(256)
		decode, _ := BlockDecoder(tc.typ)
		out := make([]float32, 256)
		for _, simd := range []bool{true, false} {
			name := tc.typ.String()
			if !simd {
				name += "/portable"
			}
			b.Run(name, func(b *testing.B) {
				field := tc.field(&decoders)
				saved := *field
				if !simd {
					*field = nil
				}
				defer func() { *field = saved }()
				b.ReportAllocs()
				for b.Loop() {
					for i := 0; i < len(src)/256; i++ {
						decode(q[i*int(rb):], out)
					}
				}
				b.ReportMetric(float64(len(src))*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mweights/s")
			})
		}
	}
}
