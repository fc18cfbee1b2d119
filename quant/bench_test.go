package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

const (
	benchRowCount = 4096
	benchCols     = 256
)

// benchMatrix is benchRowCount rows of benchCols N(0, 0.02) values, the
// scale of real transformer weights.
func benchMatrix() []float32 {
	r := rand.New(rand.NewPCG(2024, 1))
	x := make([]float32, benchRowCount*benchCols)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	return x
}

// reportCPUThroughput starts a CPU clock; the function it returns, deferred,
// reports MB of input per CPU-second ("cpuMB/s"), which unlike MB/s does
// not drop when other processes share the cores.
func reportCPUThroughput(b *testing.B, bytesPerOp int) func() {
	start := processCPU()
	return func() {
		if cpu := processCPU() - start; cpu > 0 && b.N > 0 {
			b.ReportMetric(float64(bytesPerOp)*float64(b.N)/cpu/1e6, "cpuMB/s")
		}
	}
}

// The figures are MB/s of float32 input (4 bytes per element) on one
// goroutine, comparable with ggml's reference quantizers.
func BenchmarkQuantize(b *testing.B) {
	src := benchMatrix()
	for _, typ := range SupportedTypes() {
		b.Run(typ.String(), func(b *testing.B) {
			dst := make([]byte, mustRowSize(b, typ, int64(len(src))))
			b.SetBytes(int64(len(src) * 4))
			b.ReportAllocs()
			defer reportCPUThroughput(b, len(src)*4)()
			for b.Loop() {
				if err := quantizeOneRow(typ, src, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDequantize(b *testing.B) {
	src := benchMatrix()
	for _, typ := range SupportedTypes() {
		b.Run(typ.String(), func(b *testing.B) {
			enc := make([]byte, mustRowSize(b, typ, int64(len(src))))
			if err := quantizeOneRow(typ, src, enc); err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, len(src))
			b.SetBytes(int64(len(src) * 4))
			b.ReportAllocs()
			defer reportCPUThroughput(b, len(src)*4)()
			for b.Loop() {
				if err := Dequantize(typ, enc, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkQuantizeRows(b *testing.B) {
	src := benchMatrix()
	for _, typ := range SupportedTypes() {
		dst := make([]byte, mustRowSize(b, typ, int64(len(src))))
		for _, w := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", typ, w), func(b *testing.B) {
				b.SetBytes(int64(len(src) * 4))
				b.ReportAllocs()
				defer reportCPUThroughput(b, len(src)*4)()
				for b.Loop() {
					if err := QuantizeRowsWeighted(typ, src, benchCols, unitWeights(typ, benchCols), dst, w); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkStats(b *testing.B) {
	src := benchMatrix()
	deq := make([]float32, len(src))
	for i, v := range src {
		deq[i] = v * 1.01
	}
	for _, probes := range []int{0, 4} {
		b.Run(fmt.Sprintf("probes=%d", probes), func(b *testing.B) {
			s := NewStats(benchCols, probes, 1)
			b.SetBytes(int64(len(src) * 4))
			b.ReportAllocs()
			defer reportCPUThroughput(b, len(src)*4)()
			for b.Loop() {
				if err := s.AddRows(src, deq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
