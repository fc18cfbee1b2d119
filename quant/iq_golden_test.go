package quant

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// The grid types against ggml's own outputs, with and without importance
// weights (testdata/ggml-golden-imatrix/README.md).

const imatrixGoldenDir = "testdata/ggml-golden-imatrix"

var (
	iqGridTypes         = []ggml.Type{ggml.IQ3_XXS, ggml.IQ2_XXS, ggml.IQ2_XS, ggml.IQ3_S, ggml.IQ2_S, ggml.IQ1_S, ggml.IQ1_M}
	imatrixGoldenInputs = []struct {
		name string
		cols int
	}{{"gauss", 256}, {"weights", 256}, {"skewed", 256}, {"edge", 256}, {"wide", 4096}}
	imatrixGoldenWeights = []string{"", "qw", "qwskew"}
)

func TestIQGridGolden(t *testing.T) {
	for _, typ := range iqGridTypes {
		for _, in := range imatrixGoldenInputs {
			for _, wname := range imatrixGoldenWeights {
				if wname == "" && RequiresWeights(typ) {
					continue
				}
				name := in.name + "." + typ.String()
				if wname != "" {
					name += "." + wname
				}
				t.Run(name, func(t *testing.T) {
					checkImatrixGolden(t, typ, in.name, in.cols, wname)
				})
			}
		}
	}
}

func checkImatrixGolden(t *testing.T, typ ggml.Type, input string, cols int, wname string) {
	src := loadF32LE(t, filepath.Join(imatrixGoldenDir, input+".f32"))
	var weights []float32
	stem := input + "." + typ.String()
	if wname != "" {
		weights = loadF32LE(t, filepath.Join(imatrixGoldenDir, input+"."+wname+".f32"))
		stem += "." + wname
	}
	want, err := os.ReadFile(filepath.Join(imatrixGoldenDir, stem+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	wantDeq := loadF32LE(t, filepath.Join(imatrixGoldenDir, stem+".deq.f32"))
	if len(wantDeq) != len(src) || len(src)%cols != 0 {
		t.Fatalf("golden files disagree: %d inputs, %d dequantized", len(src), len(wantDeq))
	}

	got := make([]byte, len(want))
	if err := QuantizeRowsWeighted(typ, src, cols, weights, got, 3); err != nil {
		t.Fatal(err)
	}
	bs := typ.TypeSize()
	blocksPerRow := cols / typ.BlockSize()
	bad := 0
	for b := 0; b < len(want)/bs; b++ {
		g, w := got[b*bs:(b+1)*bs], want[b*bs:(b+1)*bs]
		if i := firstByteDiff(g, w); i >= 0 {
			if bad < 3 {
				t.Errorf("row %d block %d differs from ggml first at byte %d:\n got  % x\n want % x",
					b/blocksPerRow, b%blocksPerRow, i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d blocks differ", bad, len(want)/bs)
	}

	deq := make([]float32, len(src))
	if err := DequantizeRows(typ, want, cols, deq, 3); err != nil {
		t.Fatal(err)
	}
	for i := range deq {
		if math.Float32bits(deq[i]) != math.Float32bits(wantDeq[i]) {
			t.Fatalf("dequantized element %d (row %d, col %d) = %g, want %g", i, i/cols, i%cols, deq[i], wantDeq[i])
		}
	}
}
