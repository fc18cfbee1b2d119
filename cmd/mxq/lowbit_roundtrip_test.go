package main

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
)

// Every low-bit file type made with the imatrix is read by validate and
// convert: the KL divergence is finite and falls as the file grows, and the
// Hugging Face checkpoint convert writes holds exactly the values the GGUF
// dequantizes to (checked by turning it back into an F32 GGUF, which undoes
// the layout changes without rounding).
func TestLowBitFilesValidateAndConvert(t *testing.T) {
	if testing.Short() {
		t.Skip("quantizes, validates and converts tiny-mixtral eight times")
	}
	im := filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.gguf")
	ids := evalTokens(t)
	type result struct {
		fileType string
		bytes    int64
		kl       float64
	}
	var results []result
	for _, ft := range []string{"IQ3_XXS", "IQ3_S", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M", "TQ1_0"} {
		t.Run(ft, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, ft+".gguf")
			if code, _, stderr := runCLI(t, "quantize", tiny, "--type", ft, "--imatrix", im, "-o", file, "-q"); code != exitOK {
				t.Fatalf("quantize: exit %d: %s", code, stderr)
			}
			st, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			v := validateFile(t, file, ids)
			kl := v.Logits.KLD.Mean
			if math.IsNaN(kl) || math.IsInf(kl, 0) || kl <= 0 {
				t.Errorf("KL %v", kl)
			}
			results = append(results, result{ft, st.Size(), kl})

			hf := filepath.Join(dir, "hf")
			if code, _, stderr := runCLI(t, "convert", file, "-o", hf, "--dtype", "fp32", "-q"); code != exitOK {
				t.Fatalf("convert: exit %d: %s", code, stderr)
			}
			back := filepath.Join(dir, "back.gguf")
			if code, _, stderr := runCLI(t, "quantize", hf, "--type", "F32", "-o", back, "-q"); code != exitOK {
				t.Fatalf("quantize the converted checkpoint: exit %d: %s", code, stderr)
			}
			quantized, err := gguf.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer quantized.Close()
			f32, err := gguf.Open(back)
			if err != nil {
				t.Fatal(err)
			}
			defer f32.Close()
			if len(f32.Tensors) != len(quantized.Tensors) {
				t.Fatalf("%d tensors back, %d in the GGUF", len(f32.Tensors), len(quantized.Tensors))
			}
			for _, ti := range quantized.Tensors {
				_, want := readTensorF32(t, quantized, ti.Name)
				_, got := readTensorF32(t, f32, ti.Name)
				if len(got) != len(want) {
					t.Fatalf("%s: %d values back, %d in the GGUF", ti.Name, len(got), len(want))
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s (%v) value %d: %v in the checkpoint, %v dequantized", ti.Name, ti.Type, i, got[i], want[i])
					}
				}
			}
		})
	}
	// Roughly ordered by size: a file at least a quarter larger is closer.
	sort.Slice(results, func(i, j int) bool { return results[i].bytes < results[j].bytes })
	for i, small := range results {
		t.Logf("%-8s %9d bytes  KL %.5f", small.fileType, small.bytes, small.kl)
		for _, large := range results[i+1:] {
			if float64(large.bytes) >= 1.25*float64(small.bytes) && !(large.kl < small.kl) {
				t.Errorf("%s (%d bytes) KL %v, not below %s (%d bytes) KL %v", large.fileType, large.bytes, large.kl, small.fileType, small.bytes, small.kl)
			}
		}
	}
}
