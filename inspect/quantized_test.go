package inspect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
)

// TestQuantizedShards: a GPTQ checkpoint whose modules are split over two
// shards counts as its weights in the folder, while one shard alone is shown
// as stored, with the single-shard finding, rather than failing on the
// tensors its sibling holds.
func TestQuantizedShards(t *testing.T) {
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(tinyDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	withQ := strings.Replace(string(cfg), "{", `{"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 32, "sym": true},`, 1)
	if err := writeFile(filepath.Join(dir, "config.json"), withQ); err != nil {
		t.Fatal(err)
	}
	gptq := func(module string, out, in int64) []safetensors.TensorInfo {
		return []safetensors.TensorInfo{
			{Name: module + ".qweight", DType: "I32", Shape: []int64{in / 8, out}},
			{Name: module + ".qzeros", DType: "I32", Shape: []int64{in / 32, out / 8}},
			{Name: module + ".scales", DType: "F16", Shape: []int64{in / 32, out}},
			{Name: module + ".g_idx", DType: "I32", Shape: []int64{in}},
		}
	}
	q := gptq("model.layers.0.self_attn.q_proj", 256, 256)
	first := filepath.Join(dir, "model-00001-of-00002.safetensors")
	writeShard(t, first, append(q[:2:2], safetensors.TensorInfo{Name: "model.norm.weight", DType: "BF16", Shape: []int64{256}}))
	writeShard(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), q[2:])

	r := mustInspect(t, dir, Options{})
	c := r.Checkpoint
	if c.Quantization != "gptq 4-bit group 32" || c.Tensors != 2 || r.Params.ByGroup.Attention != 256*256 {
		t.Errorf("folder: %q, %d tensors, attention %d", c.Quantization, c.Tensors, r.Params.ByGroup.Attention)
	}
	r = mustInspect(t, first, Options{})
	if codes(r)["single-shard"] != SeverityError || r.Checkpoint.Tensors != 3 || r.Checkpoint.Quantization != "" {
		t.Errorf("one shard: findings %v, %d tensors, quantization %q", codes(r), r.Checkpoint.Tensors, r.Checkpoint.Quantization)
	}
}
