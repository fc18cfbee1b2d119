package quant

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// The golden files are ggml's own outputs (testdata/ggml-golden/README.md):
// the K-quant kernels must reproduce them bit for bit.

var kTypes = []ggml.Type{ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K}

var kGoldenInputs = []string{"gauss", "weights", "skewed", "edge"}

func readF32File(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of float32", path, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ggml-golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// describeKBlock decodes the scale fields of one block so a mismatch shows
// which step of the quantizer diverged.
func describeKBlock(t ggml.Type, b []byte) string {
	h := func(off int) string {
		v := binary.LittleEndian.Uint16(b[off:])
		return fmt.Sprintf("%#04x(%g)", v, F16ToF32(v))
	}
	switch t {
	case ggml.Q2_K:
		return fmt.Sprintf("d=%s dmin=%s scales=%x", h(80), h(82), b[0:16])
	case ggml.Q3_K:
		var sc [16]int8
		for j := range sc {
			sc[j] = q3Scale(b[96:108], j)
		}
		return fmt.Sprintf("d=%s scales=%v", h(108), sc)
	case ggml.Q4_K, ggml.Q5_K:
		var sc, m [8]uint8
		for j := range sc {
			sc[j], m[j] = getScaleMinK4(j, b[4:16])
		}
		return fmt.Sprintf("d=%s dmin=%s sc=%v m=%v", h(0), h(2), sc, m)
	case ggml.Q6_K:
		var sc [16]int8
		for j := range sc {
			sc[j] = int8(b[192+j])
		}
		return fmt.Sprintf("d=%s scales=%v", h(208), sc)
	}
	return ""
}

// quantFieldAt names the field of a K-quant block that holds byte off.
func quantFieldAt(t ggml.Type, off int) string {
	type field struct {
		name       string
		start, end int
	}
	var fs []field
	switch t {
	case ggml.Q2_K:
		fs = []field{{"scales", 0, 16}, {"qs", 16, 80}, {"d", 80, 82}, {"dmin", 82, 84}}
	case ggml.Q3_K:
		fs = []field{{"hmask", 0, 32}, {"qs", 32, 96}, {"scales", 96, 108}, {"d", 108, 110}}
	case ggml.Q4_K:
		fs = []field{{"d", 0, 2}, {"dmin", 2, 4}, {"scales", 4, 16}, {"qs", 16, 144}}
	case ggml.Q5_K:
		fs = []field{{"d", 0, 2}, {"dmin", 2, 4}, {"scales", 4, 16}, {"qh", 16, 48}, {"qs", 48, 176}}
	case ggml.Q6_K:
		fs = []field{{"ql", 0, 128}, {"qh", 128, 192}, {"scales", 192, 208}, {"d", 208, 210}}
	}
	for _, f := range fs {
		if off >= f.start && off < f.end {
			return fmt.Sprintf("%s[%d]", f.name, off-f.start)
		}
	}
	return "?"
}

func TestKGolden(t *testing.T) {
	for _, in := range kGoldenInputs {
		src := readF32File(t, filepath.Join("testdata", "ggml-golden", in+".f32"))
		for _, typ := range kTypes {
			t.Run(in+"/"+typ.String(), func(t *testing.T) {
				want := readGolden(t, in+"."+typ.String()+".bin")
				got := make([]byte, len(want))
				if err := Quantize(typ, src, got); err != nil {
					t.Fatal(err)
				}
				bs := typ.TypeSize()
				mismatched := 0
				for blk := 0; blk < len(want)/bs; blk++ {
					g, w := got[blk*bs:(blk+1)*bs], want[blk*bs:(blk+1)*bs]
					if bytes.Equal(g, w) {
						continue
					}
					if mismatched == 0 {
						off := 0
						for g[off] == w[off] {
							off++
						}
						t.Errorf("block %d (one block per row) first differs at byte %d, %s: got %#02x want %#02x\n got  %s\n want %s",
							blk, off, quantFieldAt(typ, off), g[off], w[off],
							describeKBlock(typ, g), describeKBlock(typ, w))
					}
					mismatched++
				}
				if mismatched > 0 {
					t.Errorf("%d of %d blocks differ", mismatched, len(want)/bs)
				}

				wantDeq := readF32File(t, filepath.Join("testdata", "ggml-golden", in+"."+typ.String()+".deq.f32"))
				gotDeq := make([]float32, len(wantDeq))
				if err := Dequantize(typ, want, gotDeq); err != nil {
					t.Fatal(err)
				}
				for i := range wantDeq {
					if math.Float32bits(gotDeq[i]) != math.Float32bits(wantDeq[i]) {
						t.Fatalf("dequantized element %d (block %d) = %g, want %g", i, i/256, gotDeq[i], wantDeq[i])
					}
				}
			})
		}
	}
}
