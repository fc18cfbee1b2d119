package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// decoderCases are the types with SIMD block decoders and where the
// float16 scales sit in a block.
var decoderCases = []struct {
	typ    ggml.Type
	halves []int
}{
	{ggml.Q4_K, []int{0, 2}},
	{ggml.Q5_K, []int{0, 2}},
	{ggml.Q6_K, []int{208}},
	{ggml.Q8_0, []int{0}},
	{ggml.Q4_0, []int{0}},
}

// withDecoders runs f with the package's decoders set to set.
func withDecoders(set blockDecoders, f func()) {
	saved := decoders
	decoders = set
	defer func() { decoders = saved }()
	f()
}

// Blocks of random bytes (every scale, minimum and code pattern, float16
// scales of every class: zero, subnormal, normal, infinite and NaN, whose
// payload the conversion keeps) decode bit for bit as the portable loops
// do, with every set of SIMD decoders the CPU runs, through BlockDecoder
// and in runs of any length.
func TestBlockDecodersMatchPortable(t *testing.T) {
	sets := decoderSets()
	if len(sets) == 0 {
		t.Skip("no SIMD decoders on this machine")
	}
	for _, set := range sets {
		for _, tc := range decoderCases {
			t.Run(set.name+"/"+tc.typ.String(), func(t *testing.T) {
				decode, ok := BlockDecoder(tc.typ)
				if !ok {
					t.Fatal("no decoder")
				}
				const blocks = 777
				size, bs := tc.typ.TypeSize(), tc.typ.BlockSize()
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
				withDecoders(blockDecoders{}, func() { decode(src, want) })
				withDecoders(set.blockDecoders, func() {
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
			})
		}
	}
}

// Quantized weights round-trip to the same values with and without the
// SIMD decoders (the common case, beside the random bytes above).
func TestBlockDecodersQuantized(t *testing.T) {
	src := benchRows()[:64*256]
	for _, set := range decoderSets() {
		for _, tc := range decoderCases {
			size, _ := tc.typ.RowSize(int64(len(src)))
			q := make([]byte, size)
			if err := Quantize(tc.typ, src, q); err != nil {
				t.Fatal(err)
			}
			want, got := make([]float32, len(src)), make([]float32, len(src))
			withDecoders(blockDecoders{}, func() {
				if err := DequantizeRows(tc.typ, q, 512, want, 3); err != nil {
					t.Fatal(err)
				}
			})
			withDecoders(set.blockDecoders, func() {
				if err := DequantizeRows(tc.typ, q, 512, got, 3); err != nil {
					t.Fatal(err)
				}
			})
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %s: value %d: SIMD %v, portable %v", set.name, tc.typ, i, got[i], want[i])
				}
			}
		}
	}
}

// Every float16 bit pattern, NaN payloads included, widens as F16ToF32
// does, at every start alignment and with a tail the SIMD kernels leave to
// the portable loop.
func TestDecodeF16AllPatterns(t *testing.T) {
	src := make([]byte, 2*(1<<16+21))
	for i := range 1<<16 + 21 {
		binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
	}
	for _, set := range decoderSets() {
		withDecoders(set.blockDecoders, func() {
			for _, start := range []int{0, 1, 7} {
				n := 1<<16 + 21 - start
				dst := make([]float32, n)
				decodeF16(src[2*start:], dst)
				for i, v := range dst {
					h := binary.LittleEndian.Uint16(src[2*(start+i):])
					if want := F16ToF32(h); math.Float32bits(v) != math.Float32bits(want) {
						t.Fatalf("%s: %#04x widens to %#x, want %#x", set.name, h, math.Float32bits(v), math.Float32bits(want))
					}
				}
			}
		})
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
// a matrix product's panels do, with each set of decoders, and reports
// Mweights/s.
func BenchmarkBlockDecoder(b *testing.B) {
	src := benchRows()
	sets := append(decoderSets(), namedDecoders{name: "portable"})
	for _, tc := range decoderCases {
		size, _ := tc.typ.RowSize(int64(len(src)))
		q := make([]byte, size)
		if err := Quantize(tc.typ, src, q); err != nil {
			b.Fatal(err)
		}
		rb, _ := tc.typ.RowSize(256)
		decode, _ := BlockDecoder(tc.typ)
		out := make([]float32, 256)
		for _, set := range sets {
			b.Run(tc.typ.String()+"/"+set.name, func(b *testing.B) {
				c0 := processCPU()
				withDecoders(set.blockDecoders, func() {
					b.ReportAllocs()
					for b.Loop() {
						for i := 0; i < len(src)/256; i++ {
							decode(q[i*int(rb):], out)
						}
					}
				})
				weights := float64(len(src)) * float64(b.N)
				b.ReportMetric(weights/b.Elapsed().Seconds()/1e6, "Mweights/s")
				if c := processCPU() - c0; c > 0 {
					b.ReportMetric(weights/c/1e6, "Mweights/cpu-s")
				}
			})
		}
	}
}
