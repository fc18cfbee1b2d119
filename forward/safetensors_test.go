package forward

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
)

type stTensor struct {
	shape []int64
	data  []float32
}

// writeSafetensors writes an F32 safetensors file by hand (formats.md §5).
func writeSafetensors(t *testing.T, path string, tensors map[string]stTensor) {
	t.Helper()
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	hdr := map[string]any{}
	var data []byte
	for _, n := range names {
		tt := tensors[n]
		begin := len(data)
		for _, v := range tt.data {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		hdr[n] = map[string]any{"dtype": "F32", "shape": tt.shape, "data_offsets": []int{begin, len(data)}}
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(append(out, js...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

const denseConfig = `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
 "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 12, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "max_position_embeddings": 64,
 "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2}`

// denseCheckpoint writes a random dense Llama checkpoint with tied
// embeddings and returns it with the same weights in memory.
func denseCheckpoint(t *testing.T, edit func(map[string]stTensor)) (string, *memSource) {
	cfg, err := model.ParseConfig([]byte(denseConfig))
	if err != nil {
		t.Fatal(err)
	}
	d := DimsFromConfig(cfg)
	r := &rng{s: 2024}
	m := &memSource{dims: d, emb: r.vec(d.Vocab*d.Hidden, 1), norm: r.vec(d.Hidden, 1)}
	m.outW = m.emb
	tensors := map[string]stTensor{
		"model.embed_tokens.weight": {[]int64{int64(d.Vocab), int64(d.Hidden)}, m.emb},
		"model.norm.weight":         {[]int64{int64(d.Hidden)}, m.norm},
	}
	h, q, kv, in := int64(d.Hidden), int64(d.Heads*d.HeadDim), int64(d.KVHeads*d.HeadDim), int64(d.Intermediate)
	for l := range d.Layers {
		lw := randomLayer(d, r)
		m.layers = append(m.layers, lw)
		p := fmt.Sprintf("model.layers.%d.", l)
		for name, tt := range map[string]stTensor{
			"input_layernorm.weight":          {[]int64{h}, lw.AttnNorm},
			"post_attention_layernorm.weight": {[]int64{h}, lw.FFNNorm},
			"self_attn.q_proj.weight":         {[]int64{q, h}, lw.Q},
			"self_attn.k_proj.weight":         {[]int64{kv, h}, lw.K},
			"self_attn.v_proj.weight":         {[]int64{kv, h}, lw.V},
			"self_attn.o_proj.weight":         {[]int64{h, q}, lw.O},
			"mlp.gate_proj.weight":            {[]int64{in, h}, lw.Experts[0].Gate},
			"mlp.down_proj.weight":            {[]int64{h, in}, lw.Experts[0].Down},
			"mlp.up_proj.weight":              {[]int64{in, h}, lw.Experts[0].Up},
		} {
			tensors[p+name] = tt
		}
	}
	if edit != nil {
		edit(tensors)
	}
	dir := t.TempDir()
	writeSafetensors(t, filepath.Join(dir, "model.safetensors"), tensors)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(denseConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func runCheckpoint(t *testing.T, dir string, tokens []int) (*Result, error) {
	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ckpt.Close()
	cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := FromSafetensors(ckpt, cfg)
	if err != nil {
		return nil, err
	}
	return Run(src, tokens, Options{Router: true})
}

// TestDenseCheckpoint runs a dense Llama checkpoint with tied embeddings
// through FromSafetensors.
func TestDenseCheckpoint(t *testing.T) {
	dir, m := denseCheckpoint(t, nil)
	if !m.dims.Dense() || m.dims.HeadDim != 8 {
		t.Fatalf("dims %+v", m.dims)
	}
	tokens := []int{1, 5, 11, 0, 7}
	got, err := runCheckpoint(t, dir, tokens)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Run(m, tokens, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got.Logits, want.Logits); d != 0 {
		t.Errorf("checkpoint logits differ from in-memory weights by %g", d)
	}
	if got.RouterLogits != nil || got.TopK != nil {
		t.Error("dense model reported router data")
	}
}

func TestSafetensorsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(map[string]stTensor)
		want string
	}{
		{"missing", func(ts map[string]stTensor) { delete(ts, "model.layers.1.mlp.up_proj.weight") }, `"model.layers.1.mlp.up_proj.weight" missing`},
		{"transposed", func(ts map[string]stTensor) {
			k := ts["model.layers.0.self_attn.k_proj.weight"]
			ts["model.layers.0.self_attn.k_proj.weight"] = stTensor{[]int64{k.shape[1], k.shape[0]}, k.data}
		}, `"model.layers.0.self_attn.k_proj.weight" has shape [32 16], want [16 32]`},
	} {
		dir, _ := denseCheckpoint(t, tc.edit)
		_, err := runCheckpoint(t, dir, []int{1})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
