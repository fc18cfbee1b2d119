package convert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// llamaQuantizeDump is the per-tensor part of a dump of a GGUF made by
// llama-quantize (testdata/tiny-mixtral-imatrix/README.md).
type llamaQuantizeDump struct {
	Tensors []struct {
		Name   string   `json:"name"`
		Type   string   `json:"type"`
		Shape  []uint64 `json:"shape"`
		SHA256 string   `json:"sha256"`
	} `json:"tensors"`
	KV map[string]any `json:"kv"`
}

// TestIQ4XSMatchesLlamaQuantize quantizes tiny-mixtral to IQ4_XS and
// compares the file with llama-quantize's IQ4_XS of the same model: the
// same type and shape for every tensor, and the same bytes for the tensors
// llama-quantize quantized without importance weights (token_embd, which
// is not a matmul input, and output.weight, which the imatrix run did not
// collect). The other tensors were made with an imatrix, which changes
// their bytes but not their types: the one rule that reads it (ffn_down
// of the first n_layer/8 layers) covers no layer of a 2-layer model.
func TestIQ4XSMatchesLlamaQuantize(t *testing.T) {
	raw, err := os.ReadFile("../testdata/tiny-mixtral-imatrix/tiny-mixtral.imatrix.IQ4_XS.json")
	if err != nil {
		t.Fatal(err)
	}
	var want llamaQuantizeDump
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if ft, _ := want.KV["general.file_type"].(float64); ggml.FileType(ft) != ggml.FileTypeIQ4_XS {
		t.Fatalf("dump has file type %v", want.KV["general.file_type"])
	}
	out := writeGGUF(t, openTiny(t), GGUFOptions{FileType: ggml.FileTypeIQ4_XS})
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ft, ok := f.Uint("general.file_type"); !ok || ggml.FileType(ft) != ggml.FileTypeIQ4_XS {
		t.Errorf("general.file_type = %d, %v", ft, ok)
	}
	if len(f.Tensors) != len(want.Tensors) {
		t.Errorf("%d tensors, llama-quantize wrote %d", len(f.Tensors), len(want.Tensors))
	}
	unweighted := map[string]bool{"token_embd.weight": true, "output.weight": true}
	compared := 0
	for _, w := range want.Tensors {
		ti, ok := f.Tensor(w.Name)
		if !ok {
			t.Errorf("%s: missing", w.Name)
			continue
		}
		if ti.Type.String() != w.Type || !sameShape(ti.Dims, w.Shape) {
			t.Errorf("%s: %s %v, llama-quantize made %s %v", w.Name, ti.Type, ti.Dims, w.Type, w.Shape)
			continue
		}
		if !unweighted[w.Name] {
			continue
		}
		_, data := readGGUFTensor(t, f, w.Name)
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != w.SHA256 {
			t.Errorf("%s (%s): sha256 %s, llama-quantize's is %s", w.Name, w.Type, got, w.SHA256)
		}
		compared++
	}
	if compared != len(unweighted) {
		t.Errorf("compared the bytes of %d tensors, want %d", compared, len(unweighted))
	}
}

func sameShape(dims, shape []uint64) bool {
	if len(dims) != len(shape) {
		return false
	}
	for i := range dims {
		if dims[i] != shape[i] {
			return false
		}
	}
	return true
}

// imatrixWeights reads the importance weights llama-quantize derives for
// tensor name from an imatrix GGUF: in_sum2 / count per expert (float32
// division), 1 for an expert that got no tokens; nil without an entry.
func imatrixWeights(t *testing.T, f *gguf.File, name string) []float32 {
	t.Helper()
	sums, ok := f.Tensor(name + ".in_sum2")
	if !ok {
		return nil
	}
	counts, ok := f.Tensor(name + ".counts")
	if !ok || sums.Type != ggml.F32 || counts.Type != ggml.F32 || len(sums.Dims) == 0 {
		t.Fatalf("%s: malformed imatrix entry", name)
	}
	_, rawSums := readGGUFTensor(t, f, name+".in_sum2")
	_, rawCounts := readGGUFTensor(t, f, name+".counts")
	s, c := make([]float32, len(rawSums)/4), make([]float32, len(rawCounts)/4)
	if err := quant.Dequantize(ggml.F32, rawSums, s); err != nil {
		t.Fatal(err)
	}
	if err := quant.Dequantize(ggml.F32, rawCounts, c); err != nil {
		t.Fatal(err)
	}
	n := int(sums.Dims[0])
	if len(c)*n != len(s) {
		t.Fatalf("%s: %d sums for %d counts", name, len(s), len(c))
	}
	w := make([]float32, len(s))
	for e, count := range c {
		for i := range n {
			if count > 0 {
				w[e*n+i] = s[e*n+i] / count
			} else {
				w[e*n+i] = 1
			}
		}
	}
	return w
}

func float32Digest(v []float32) string {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// weightsIgnored lists the types whose ggml quantizer ignores importance
// weights.
var weightsIgnored = map[ggml.Type]bool{ggml.F32: true, ggml.F16: true, ggml.BF16: true, ggml.Q8_0: true, ggml.MXFP4: true, ggml.TQ1_0: true, ggml.TQ2_0: true}

// TestImatrixIQ4XSMatchesLlamaQuantize quantizes every tensor of
// llama-quantize's IQ4_XS file of tiny-mixtral (made with an imatrix) from
// mxq's F32 conversion, with the importance weights llama-quantize derives
// from the same imatrix (checked against its dump), one expert slice at a
// time, and compares the bytes. Tensors whose type takes weights that mxq
// has no weighted kernel for are skipped and named.
func TestImatrixIQ4XSMatchesLlamaQuantize(t *testing.T) {
	dir := "../testdata/tiny-mixtral-imatrix/"
	var dump llamaQuantizeDump
	var imDump struct {
		Entries []struct {
			Name          string `json:"name"`
			WeightsSHA256 string `json:"weights_sha256"`
		} `json:"entries"`
	}
	for path, v := range map[string]any{dir + "tiny-mixtral.imatrix.IQ4_XS.json": &dump, dir + "tiny-mixtral.imatrix.json": &imDump} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	im, err := gguf.Open(dir + "tiny-mixtral.imatrix.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	for _, e := range imDump.Entries {
		if w := imatrixWeights(t, im, e.Name); w == nil || float32Digest(w) != e.WeightsSHA256 {
			t.Fatalf("%s: importance weights differ from llama-quantize's", e.Name)
		}
	}

	f32, err := gguf.Open(writeGGUF(t, openTiny(t), GGUFOptions{FileType: ggml.FileTypeAllF32}))
	if err != nil {
		t.Fatal(err)
	}
	defer f32.Close()
	checked := map[ggml.Type]int{}
	for _, want := range dump.Tensors {
		typ, err := ggml.ParseType(want.Type)
		if err != nil {
			t.Fatal(err)
		}
		weights := imatrixWeights(t, im, want.Name)
		if !typ.IsQuantized() {
			continue
		}
		if weights != nil && !quant.UsesWeights(typ) && !weightsIgnored[typ] {
			t.Logf("%s (%s with importance weights): no weighted kernel, skipped", want.Name, typ)
			continue
		}
		ti, raw := readGGUFTensor(t, f32, want.Name)
		src := make([]float32, len(raw)/4)
		if err := quant.Dequantize(ggml.F32, raw, src); err != nil {
			t.Fatal(err)
		}
		rowLen := int(ti.Dims[0])
		slices := 1
		if len(ti.Dims) == 3 {
			slices = int(ti.Dims[2])
		}
		per := len(src) / slices
		rowBytes, err := typ.RowSize(int64(rowLen))
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, int64(len(src)/rowLen)*rowBytes)
		outPer := len(out) / slices
		for e := range slices {
			var w []float32
			if weights != nil {
				w = weights[e*rowLen : (e+1)*rowLen]
			}
			if err := quant.QuantizeRowsWeighted(typ, src[e*per:(e+1)*per], rowLen, w, out[e*outPer:(e+1)*outPer], 0); err != nil {
				t.Fatal(err)
			}
		}
		sum := sha256.Sum256(out)
		if got := hex.EncodeToString(sum[:]); got != want.SHA256 {
			t.Errorf("%s (%s, imatrix %v): sha256 %s, llama-quantize's is %s", want.Name, typ, weights != nil, got, want.SHA256)
		}
		checked[typ]++
	}
	if checked[ggml.IQ4_XS] != 9 || checked[ggml.Q8_0] != 4 {
		t.Errorf("compared %v tensors, want 9 IQ4_XS (token_embd, 2 attn_q, 6 expert tensors) and 4 Q8_0", checked)
	}
}
