package quant

import (
	"math/rand/v2"
	"testing"
)

// benchRows is 4096 rows of 256 N(0, 0.02) values, like transformer weights.
func benchRows() []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, 4096*256)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 0.02)
	}
	return src
}

func BenchmarkKQuantize(b *testing.B) {
	src := benchRows()
	for _, typ := range kTypes {
		b.Run(typ.String(), func(b *testing.B) {
			size, _ := typ.RowSize(int64(len(src)))
			dst := make([]byte, size)
			b.SetBytes(int64(len(src) * 4))
			b.ReportAllocs()
			for b.Loop() {
				if err := Quantize(typ, src, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuantizeQ8K measures the activation quantizer of the K-quant
// dot products.
func BenchmarkQuantizeQ8K(b *testing.B) {
	src := benchRows()
	var blk blockQ8K
	b.SetBytes(int64(len(src) * 4))
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < len(src); i += 256 {
			quantizeBlockQ8K((*[256]float32)(src[i:]), &blk)
		}
	}
}

func BenchmarkKDequantize(b *testing.B) {
	src := benchRows()
	for _, typ := range kTypes {
		b.Run(typ.String(), func(b *testing.B) {
			size, _ := typ.RowSize(int64(len(src)))
			q := make([]byte, size)
			if err := Quantize(typ, src, q); err != nil {
				b.Fatal(err)
			}
			out := make([]float32, len(src))
			b.SetBytes(int64(len(src) * 4))
			b.ReportAllocs()
			for b.Loop() {
				if err := Dequantize(typ, q, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKQuantizeRef runs the plain transliterations of ggml's
// reference code, as a yardstick measured under the same conditions.
func BenchmarkKQuantizeRef(b *testing.B) {
	src := benchRows()
	for _, k := range kBlockQuantizers {
		b.Run(k.typ.String(), func(b *testing.B) {
			dst := make([]byte, k.typ.TypeSize())
			b.SetBytes(int64(len(src) * 4))
			b.ReportAllocs()
			for b.Loop() {
				for i := 0; i < len(src); i += 256 {
					k.ref((*[256]float32)(src[i:]), dst)
				}
			}
		})
	}
}
