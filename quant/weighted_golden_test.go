package quant

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// ggml's outputs with importance weights (testdata/ggml-golden-imatrix/
// README.md): every weighted quantizer must reproduce them bit for bit.

var (
	weightedTypes = []ggml.Type{
		ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1,
		ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K,
	}
	weightedGoldenWeights = []string{"qw", "qwskew"}
)

// weightedGoldenInput is one input matrix of the weighted goldens; hasDeq
// marks those whose dequantized outputs are kept too.
type weightedGoldenInput struct {
	name   string
	cols   int
	hasDeq bool
}

var weightedGoldenInputs = []weightedGoldenInput{
	{"gauss", 256, true},
	{"weights", 256, false},
	{"skewed", 256, false},
	{"edge", 256, true},
	{"wide", 4096, false}, // 16 super-blocks per row: weights indexed past the first
}

// loadWeightedGoldenInput reads an input matrix: the 256-column ones are
// the byte-identical inputs of testdata/ggml-golden.
func loadWeightedGoldenInput(t testing.TB, in weightedGoldenInput) []float32 {
	t.Helper()
	dir := goldenDir
	if in.name == "wide" {
		dir = imatrixGoldenDir
	}
	src := loadF32LE(t, filepath.Join(dir, in.name+".f32"))
	if len(src) == 0 || len(src)%in.cols != 0 {
		t.Fatalf("%s: %d values is not a whole number of %d-column rows", in.name, len(src), in.cols)
	}
	return src
}

func TestWeightedGolden(t *testing.T) {
	for _, in := range weightedGoldenInputs {
		src := loadWeightedGoldenInput(t, in)
		for _, wname := range weightedGoldenWeights {
			qw := loadF32LE(t, filepath.Join(imatrixGoldenDir, in.name+"."+wname+".f32"))
			if len(qw) != in.cols {
				t.Fatalf("%s.%s: %d weights for %d columns", in.name, wname, len(qw), in.cols)
			}
			for _, typ := range weightedTypes {
				t.Run(in.name+"/"+wname+"/"+typ.String(), func(t *testing.T) {
					base := filepath.Join(imatrixGoldenDir, in.name+"."+typ.String()+"."+wname)
					want, err := os.ReadFile(base + ".bin")
					if err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(want))
					if err := QuantizeRowsWeighted(typ, src, in.cols, qw, got, 0); err != nil {
						t.Fatal(err)
					}
					compareBlocks(t, typ, got, want, in.cols)
					if !in.hasDeq {
						return
					}
					wantDeq := loadF32LE(t, base+".deq.f32")
					gotDeq := make([]float32, len(src))
					if err := Dequantize(typ, want, gotDeq); err != nil {
						t.Fatal(err)
					}
					if len(wantDeq) != len(gotDeq) {
						t.Fatalf("%d dequantized values, want %d", len(gotDeq), len(wantDeq))
					}
					for i := range wantDeq {
						if math.Float32bits(gotDeq[i]) != math.Float32bits(wantDeq[i]) {
							t.Fatalf("dequantized element %d = %g, want %g", i, gotDeq[i], wantDeq[i])
						}
					}
				})
			}
		}
	}
}

// compareBlocks reports the blocks of got that differ from want: the first
// one in detail (field and, for K-quants, decoded scales), then a count.
func compareBlocks(t *testing.T, typ ggml.Type, got, want []byte, cols int) {
	t.Helper()
	bs := typ.TypeSize()
	perRow := cols / typ.BlockSize()
	bad := 0
	for blk := 0; blk < len(want)/bs; blk++ {
		g, w := got[blk*bs:(blk+1)*bs], want[blk*bs:(blk+1)*bs]
		if bytes.Equal(g, w) {
			continue
		}
		if bad == 0 {
			off := 0
			for g[off] == w[off] {
				off++
			}
			t.Errorf("row %d block %d first differs at byte %d (%s): got %#02x want %#02x\n got  %s\n want %s",
				blk/perRow, blk%perRow, off, quantFieldAt(typ, off), g[off], w[off],
				describeKBlock(typ, g), describeKBlock(typ, w))
		}
		bad++
	}
	if bad > 0 {
		t.Errorf("%d of %d blocks differ", bad, len(want)/bs)
	}
}
