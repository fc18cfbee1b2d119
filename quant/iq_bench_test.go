package quant

import (
	"math"
	"testing"
)

// ggmlBenchInput is the input of ggml-bench (the speed reference for
// ggml's own quantizers): rows×cols N(0, 0.02) from its 64-bit LCG and
// Box-Muller, and its importance weights, Σx² over the first 64 rows of
// each column plus 1e-3. The same numbers make the two comparable.
func ggmlBenchInput(rows, cols int) (x, w []float32) {
	n := rows * cols
	x = make([]float32, n)
	s := uint64(12345)
	next := func() uint64 {
		s = s*6364136223846793005 + 1442695040888963407
		return s >> 11
	}
	for i := 0; i < n; i += 2 {
		u1 := (float64(next()) + 1) / 9007199254740993.0
		u2 := (float64(next()) + 0.5) / 9007199254740992.0
		r := math.Sqrt(-2 * math.Log(u1))
		x[i] = float32(0.02 * r * math.Cos(6.283185307179586*u2))
		if i+1 < n {
			x[i+1] = float32(0.02 * r * math.Sin(6.283185307179586*u2))
		}
	}
	w = make([]float32, cols)
	for j := range w {
		var v float64
		for r := 0; r < rows && r < 64; r++ {
			v += float64(x[r*cols+j]) * float64(x[r*cols+j])
		}
		w[j] = float32(v + 1e-3)
	}
	return x, w
}

// BenchmarkIQGridQuantize quantizes ggml-bench's 512×4096 input on one
// goroutine, with its importance weights ("imatrix", as
// `ggml-bench TYPE 512 4096 1 imatrix`) and, where ggml allows, without
// (`ggml-bench TYPE 512 4096 1`). MB/s is of float32 input.
func BenchmarkIQGridQuantize(b *testing.B) {
	const rows, cols = 512, 4096
	x, w := ggmlBenchInput(rows, cols)
	for _, typ := range iqGridTypes {
		for _, weights := range [][]float32{nil, w} {
			if weights == nil && RequiresWeights(typ) {
				continue
			}
			name := typ.String()
			if weights != nil {
				name += "/imatrix"
			}
			b.Run(name, func(b *testing.B) {
				dst := make([]byte, mustRowSize(b, typ, int64(len(x))))
				if err := QuantizeRowsWeighted(typ, x[:cols], cols, weights, dst[:len(dst)/rows], 1); err != nil {
					b.Fatal(err) // also builds the grid tables, outside the timing
				}
				b.SetBytes(int64(len(x) * 4))
				b.ReportAllocs()
				defer reportCPUThroughput(b, len(x)*4)()
				for b.Loop() {
					if err := QuantizeRowsWeighted(typ, x, cols, weights, dst, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkIQGridDequantize(b *testing.B) {
	const rows, cols = 512, 4096
	x, w := ggmlBenchInput(rows, cols)
	for _, typ := range iqGridTypes {
		b.Run(typ.String(), func(b *testing.B) {
			enc := make([]byte, mustRowSize(b, typ, int64(len(x))))
			if err := QuantizeRowsWeighted(typ, x, cols, w, enc, 0); err != nil {
				b.Fatal(err)
			}
			y := make([]float32, len(x))
			b.SetBytes(int64(len(x) * 4))
			for b.Loop() {
				if err := DequantizeRows(typ, enc, cols, y, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
