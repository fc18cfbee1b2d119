package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/mxq-dev/mxq/internal/synth"
)

// benchWeightedMatrix is rows×cols N(0, 0.02) values with the importance
// weights ggml's quantizer benchmark uses (synth.BenchImportance).
func benchWeightedMatrix(rows, cols int) (src, weights []float32) {
	r := rand.New(rand.NewPCG(1, 2))
	src = make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 0.02)
	}
	return src, synth.BenchImportance(src, cols)
}

// BenchmarkQuantizeWeighted quantizes a 512×4096 matrix on one worker
// with importance weights (as `ggml-bench TYPE 512 4096 1 imatrix` does)
// and, for comparison, without.
func BenchmarkQuantizeWeighted(b *testing.B) {
	const rows, cols = 512, 4096
	src, weights := benchWeightedMatrix(rows, cols)
	for _, typ := range weightedTypes {
		size, _ := typ.RowSize(cols)
		dst := make([]byte, int(size)*rows)
		for _, mode := range []struct {
			name string
			w    []float32
		}{{"imatrix", weights}, {"plain", nil}} {
			b.Run(typ.String()+"/"+mode.name, func(b *testing.B) {
				b.SetBytes(int64(len(src) * 4))
				b.ReportAllocs()
				for b.Loop() {
					if err := QuantizeRowsWeighted(typ, src, cols, mode.w, dst, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
