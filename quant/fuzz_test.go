package quant

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// FuzzKernels feeds arbitrary bits to every kernel, both as float32 input
// to quantize and as encoded blocks to dequantize: nothing may panic, the
// unquantized types must round-trip exactly, and Stats must stay JSON-safe.
func FuzzKernels(f *testing.F) {
	edge := loadF32LE(f, filepath.Join(goldenDir, "edge.f32"))
	for r := 0; r < len(edge)/goldenCols; r += 5 {
		row := edge[r*goldenCols:][:goldenCols]
		seed := make([]byte, 4*len(row))
		for i, v := range row {
			binary.LittleEndian.PutUint32(seed[4*i:], math.Float32bits(v))
		}
		f.Add(seed)
	}
	f.Add([]byte{0x00, 0x00, 0xc0, 0x7f, 0x00, 0x00, 0x80, 0xff}) // NaN, -Inf
	f.Fuzz(func(t *testing.T, data []byte) {
		// One 256-element row from the data, zero padded.
		x := make([]float32, propCols)
		for i := range min(len(data)/4, len(x)) {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		for _, typ := range SupportedTypes() {
			size, err := typ.RowSize(propCols)
			if err != nil {
				t.Fatal(err)
			}
			enc := make([]byte, size)
			if err := quantizeOneRow(typ, x, enc); err != nil {
				t.Fatal(err)
			}
			y := make([]float32, propCols)
			if err := Dequantize(typ, enc, y); err != nil {
				t.Fatal(err)
			}
			if typ == ggml.F32 {
				for i := range x {
					if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
						t.Fatalf("F32 element %d changed", i)
					}
				}
			}
			s := NewStats(propCols, 1, 0)
			if err := s.AddRows(x, y); err != nil {
				t.Fatal(err)
			}
			m := s.Result()
			for _, v := range []float64{m.RMSE, m.MaxAbsError, m.RelFrobenius, m.SNRdB, m.Cosine, m.MatmulRelError} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s: metrics not finite: %+v", typ, m)
				}
			}

			// The raw data as encoded blocks.
			raw := make([]byte, size)
			copy(raw, data)
			if err := Dequantize(typ, raw, y); err != nil {
				t.Fatal(err)
			}
		}
	})
}
