package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
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
