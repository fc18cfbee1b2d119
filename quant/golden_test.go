package quant

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// goldenDir holds ggml's own quantizer and dequantizer outputs; see its
// README for how they were produced.
const goldenDir = "testdata/ggml-golden"

const goldenCols = 256

var (
	goldenInputs = []string{"gauss", "weights", "skewed", "edge"}
	goldenTypes  = []ggml.Type{
		ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1,
		ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K,
	}
)

func loadF32LE(t testing.TB, path string) []float32 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of float32", path, len(raw))
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, typ := range goldenTypes {
		for _, in := range goldenInputs {
			t.Run(typ.String()+"/"+in, func(t *testing.T) {
				src := loadF32LE(t, filepath.Join(goldenDir, in+".f32"))
				wantBin, err := os.ReadFile(filepath.Join(goldenDir, in+"."+typ.String()+".bin"))
				if err != nil {
					t.Fatal(err)
				}
				wantDeq := loadF32LE(t, filepath.Join(goldenDir, in+"."+typ.String()+".deq.f32"))
				if len(src)%goldenCols != 0 || len(wantDeq) != len(src) {
					t.Fatalf("golden files disagree: %d inputs, %d dequantized", len(src), len(wantDeq))
				}
				rowBytes, err := typ.RowSize(goldenCols)
				if err != nil {
					t.Fatal(err)
				}

				got := make([]byte, len(wantBin))
				if err := QuantizeRows(typ, src, goldenCols, got, 2); err != nil {
					t.Errorf("quantize: %v", err)
				} else if i := firstByteDiff(got, wantBin); i >= 0 {
					blk := i / typ.TypeSize()
					t.Errorf("quantize differs from ggml first at byte %d: block %d (row %d, block %d in row): got % x, want % x",
						i, blk, int64(i)/rowBytes, int64(i)%rowBytes/int64(typ.TypeSize()),
						goldenBlockAt(got, blk, typ.TypeSize()), goldenBlockAt(wantBin, blk, typ.TypeSize()))
				}

				deq := make([]float32, len(src))
				if err := Dequantize(typ, wantBin, deq); err != nil {
					t.Fatalf("dequantize: %v", err)
				}
				for i := range deq {
					if math.Float32bits(deq[i]) != math.Float32bits(wantDeq[i]) {
						t.Fatalf("dequantize differs from ggml first at element %d (row %d, col %d): got %g (%#08x), want %g (%#08x)",
							i, i/goldenCols, i%goldenCols, deq[i], math.Float32bits(deq[i]), wantDeq[i], math.Float32bits(wantDeq[i]))
					}
				}
			})
		}
	}
}

func firstByteDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func goldenBlockAt(b []byte, i, size int) []byte {
	return b[min(i*size, len(b)):min((i+1)*size, len(b))]
}
