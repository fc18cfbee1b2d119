package quant

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkLowBitQuantize quantizes a 512×4096 N(0, 0.02) matrix on one
// goroutine, the shape ggml-bench times, with and without importance
// weights (ggml-bench's: Σx² over the first 64 rows + 1e-3 per column).
// MB/s is of float32 input.
func BenchmarkLowBitQuantize(b *testing.B) {
	const rows, cols = 512, 4096
	r := rand.New(rand.NewPCG(512, 4096))
	src := make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 0.02)
	}
	weights := make([]float32, cols)
	for row := range 64 {
		for j, v := range src[row*cols:][:cols] {
			weights[j] += v * v
		}
	}
	for j := range weights {
		weights[j] += 1e-3
	}
	for _, typ := range lowBitTypes {
		for _, w := range [][]float32{nil, weights} {
			name := typ.String()
			if w != nil {
				if !UsesWeights(typ) {
					continue
				}
				name += "/imatrix"
			}
			b.Run(name, func(b *testing.B) {
				dst := make([]byte, mustRowSize(b, typ, int64(len(src))))
				b.SetBytes(int64(len(src) * 4))
				b.ReportAllocs()
				defer reportCPUThroughput(b, len(src)*4)()
				for b.Loop() {
					if err := QuantizeRowsWeighted(typ, src, cols, w, dst, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
