package quant

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// ggml's outputs with and without importance weights for the IQ4, MXFP4 and
// ternary types (testdata/ggml-golden-imatrix/README.md).
const imatrixGoldenDir = "testdata/ggml-golden-imatrix"

var (
	lowBitTypes  = []ggml.Type{ggml.IQ4_NL, ggml.IQ4_XS, ggml.MXFP4, ggml.TQ1_0, ggml.TQ2_0}
	lowBitInputs = []struct {
		name string
		cols int
	}{{"gauss", 256}, {"weights", 256}, {"skewed", 256}, {"edge", 256}, {"wide", 4096}}
	lowBitWeights = []string{"", "qw", "qwskew"}
)

func TestLowBitGolden(t *testing.T) {
	for _, in := range lowBitInputs {
		src := loadF32LE(t, filepath.Join(imatrixGoldenDir, in.name+".f32"))
		for _, wname := range lowBitWeights {
			var weights []float32
			suffix := ""
			if wname != "" {
				weights = loadF32LE(t, filepath.Join(imatrixGoldenDir, in.name+"."+wname+".f32"))
				if len(weights) != in.cols {
					t.Fatalf("%s.%s.f32: %d weights for %d columns", in.name, wname, len(weights), in.cols)
				}
				suffix = "." + wname
			}
			for _, typ := range lowBitTypes {
				t.Run(in.name+"/"+typ.String()+suffix, func(t *testing.T) {
					base := filepath.Join(imatrixGoldenDir, in.name+"."+typ.String()+suffix)
					want, err := os.ReadFile(base + ".bin")
					if err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(want))
					if err := QuantizeRowsWeighted(typ, src, in.cols, weights, got, 3); err != nil {
						t.Fatal(err)
					}
					if i := firstByteDiff(got, want); i >= 0 {
						bs := typ.TypeSize()
						bpr := in.cols / typ.BlockSize()
						blk := i / bs
						n := 0
						for b := 0; b < len(want)/bs; b++ {
							if !bytes.Equal(goldenBlockAt(got, b, bs), goldenBlockAt(want, b, bs)) {
								n++
							}
						}
						t.Errorf("quantize differs from ggml first at byte %d of block %d (row %d, block %d in row; %d of %d blocks differ):\n got  % x\n want % x",
							i%bs, blk, blk/bpr, blk%bpr, n, len(want)/bs, goldenBlockAt(got, blk, bs), goldenBlockAt(want, blk, bs))
					}

					wantDeq := loadF32LE(t, base+".deq.f32")
					if len(wantDeq) != len(src) {
						t.Fatalf("%d dequantized values for %d inputs", len(wantDeq), len(src))
					}
					deq := make([]float32, len(src))
					if err := DequantizeRows(typ, want, in.cols, deq, 2); err != nil {
						t.Fatal(err)
					}
					for i := range deq {
						if math.Float32bits(deq[i]) != math.Float32bits(wantDeq[i]) {
							t.Fatalf("dequantize differs from ggml first at element %d (row %d, col %d): got %g (%#08x), want %g (%#08x)",
								i, i/in.cols, i%in.cols, deq[i], math.Float32bits(deq[i]), wantDeq[i], math.Float32bits(wantDeq[i]))
						}
					}
				})
			}
		}
	}
}
