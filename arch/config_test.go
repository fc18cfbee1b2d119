package arch

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readConfig(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "arch", name, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func parse(t *testing.T, raw map[string]any) (*Model, error) {
	t.Helper()
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(b, "config.json")
	if err != nil {
		return nil, err
	}
	return c.Model()
}

// A missing or contradictory family key is one error naming it.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		model  string
		edit   func(map[string]any)
		key    string
		within string
	}{
		{"deepseek-v3", func(c map[string]any) { delete(c, "kv_lora_rank") }, "kv_lora_rank", "missing"},
		{"deepseek-v3", func(c map[string]any) { delete(c, "qk_rope_head_dim") }, "qk_rope_head_dim", "missing"},
		{"deepseek-v3", func(c map[string]any) { delete(c, "q_lora_rank") }, "q_lora_rank", "null means"},
		{"deepseek-v3", func(c map[string]any) { c["first_k_dense_replace"] = 70 }, "first_k_dense_replace", "more than"},
		{"deepseek-v3", func(c map[string]any) { c["num_experts_per_tok"] = 300 }, "num_experts_per_tok", "more than the 256"},
		{"deepseek-v3", func(c map[string]any) { c["moe_layer_freq"] = 0 }, "moe_layer_freq", "positive"},
		{"qwen3-30b-a3b", func(c map[string]any) { delete(c, "moe_intermediate_size") }, "moe_intermediate_size", "missing"},
		{"qwen3-30b-a3b", func(c map[string]any) { delete(c, "num_experts") }, "num_experts", "missing"},
		{"qwen3-30b-a3b", func(c map[string]any) { c["mlp_only_layers"] = []int{0}; delete(c, "intermediate_size") }, "intermediate_size", "missing"},
		{"qwen3-30b-a3b", func(c map[string]any) { c["num_key_value_heads"] = 5 }, "num_key_value_heads", "does not divide"},
		{"qwen3-30b-a3b", func(c map[string]any) { c["hidden_size"] = 2048.5 }, "hidden_size", "not an integer"},
		{"qwen3-30b-a3b", func(c map[string]any) { c["decoder_sparse_step"] = 0 }, "decoder_sparse_step", "positive"},
		{"qwen1.5-moe-a2.7b", func(c map[string]any) { delete(c, "shared_expert_intermediate_size") }, "shared_expert_intermediate_size", "missing"},
		{"gpt-oss-20b", func(c map[string]any) { c["layer_types"] = []string{"full_attention"} }, "layer_types", "1 entries for 24 layers"},
		{"gpt-oss-20b", func(c map[string]any) { delete(c, "num_local_experts") }, "num_local_experts", "missing"},
		{"phi-3.5-moe", func(c map[string]any) { c["num_local_experts"] = -1 }, "num_local_experts", "not an integer"},
		{"olmoe-1b-7b", func(c map[string]any) { c["vocab_size"] = 1 << 30 }, "vocab_size", "not an integer between"},
	}
	for _, tt := range tests {
		raw := readConfig(t, tt.model)
		tt.edit(raw)
		_, err := parse(t, raw)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tt.key || !strings.Contains(ce.Msg, tt.within) || !errors.Is(err, ErrConfig) {
			t.Errorf("%s, %s: got %v", tt.model, tt.key, err)
		}
	}
}

func TestUnknownArchitecture(t *testing.T) {
	_, err := parse(t, map[string]any{"model_type": "jamba", "architectures": []string{"JambaForCausalLM"}})
	var ue *UnknownError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnknown) {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"jamba", "JambaForCausalLM", "Qwen3-MoE", "DeepSeek-V3/R1", "gpt-oss", "Mixtral"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	// An architectures entry alone identifies a family.
	raw := readConfig(t, "olmoe-1b-7b")
	delete(raw, "model_type")
	if m, err := parse(t, raw); err != nil || m.Family != OLMoE {
		t.Errorf("by architectures: %v", err)
	}
}

func TestLookup(t *testing.T) {
	for _, f := range Families() {
		if g, ok := ByModelType(f.ModelTypes[0]); !ok || g != f {
			t.Errorf("%s by model_type", f.Name)
		}
		if g, ok := ByArchitecture(f.Architectures[0]); !ok || g != f {
			t.Errorf("%s by architecture", f.Name)
		}
		if g, ok := ByGGUF(f.GGUFArch); !ok || g.GGUFArch != f.GGUFArch {
			t.Errorf("%s by GGUF architecture", f.Name)
		}
	}
	if _, ok := ByGGUF("qwen3moe"); !ok {
		t.Error("qwen3moe")
	}
	if _, ok := ByModelType("bert"); ok {
		t.Error("bert")
	}
}

// KV cache values per token and layer, by each family's formula.
func TestKVCache(t *testing.T) {
	tests := []struct {
		model string
		want  int64
	}{
		{"deepseek-v3", 512 + 64},       // latent + rotary key, not 2 × 128 heads × 192
		{"deepseek-v2-lite", 512 + 64},  // the same without q compression
		{"qwen3-30b-a3b", 2 * 4 * 128},  // 4 KV heads
		{"gpt-oss-120b", 2 * 8 * 64},    // 8 KV heads of 64
		{"phi-3.5-moe", 2 * 8 * 128},    // 8 KV heads of 128
		{"qwen1.5-moe-a2.7b", 2 * 2048}, // full multi-head attention
		{"olmoe-1b-7b", 2 * 2048},
	}
	for _, tt := range tests {
		m := load(t, tt.model)
		if got := m.Family.KV.Elements(m); got != tt.want {
			t.Errorf("%s: %d values per token and layer, want %d", tt.model, got, tt.want)
		}
	}
	m := load(t, "gpt-oss-20b")
	sliding := 0
	for l := 0; l < m.Layers; l++ {
		if m.IsSlidingLayer(l) {
			sliding++
		}
	}
	if sliding != 12 || !m.IsSlidingLayer(0) || m.IsSlidingLayer(1) || m.SlidingWindow != 128 {
		t.Errorf("gpt-oss-20b: %d sliding layers", sliding)
	}
}

// gpt-oss stores its experts in MXFP4: bytes are not params × 2.
func TestStoredMXFP4(t *testing.T) {
	m := load(t, "gpt-oss-120b")
	var params, bytes, expertParams, expertBytes int64
	for _, s := range m.StoredTensors() {
		params += s.Params
		bytes += s.Bytes
		if s.Of.Packed != "" {
			expertParams += s.Params
			expertBytes += s.Bytes
			if s.DType != "U8" {
				t.Errorf("%s is %s", s.Name, s.DType)
			}
		}
	}
	c := m.Count()
	if params != c.Total {
		t.Errorf("stored tensors carry %d params, counted %d", params, c.Total)
	}
	// 4.25 bits per packed weight: 4 for the value, 8 per 32 for the scale.
	if expertBytes*32 != expertParams*17 {
		t.Errorf("packed experts: %d bytes for %d params", expertBytes, expertParams)
	}
	if bytes >= 2*params/3 || bytes <= params/2 {
		t.Errorf("checkpoint %d bytes for %d params", bytes, params)
	}
	blocks, scales, ok := PackedShapes(PackMXFP4, []int64{128, 2880, 5760})
	if !ok || !equal(blocks, []int64{128, 5760, 90, 16}) || !equal(scales, []int64{128, 5760, 90}) {
		t.Errorf("packed shapes %v %v", blocks, scales)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Names round-trip through the declarations.
func TestClassify(t *testing.T) {
	for _, name := range []string{"deepseek-v3", "gpt-oss-20b", "qwen1.5-moe-a2.7b", "phi-3.5-moe", "olmoe-1b-7b", "qwen3-30b-a3b"} {
		m := load(t, name)
		for _, e := range m.HFTensors() {
			got, ok := m.Classify(e.Name)
			if !ok || got.Role != e.Role || got.Layer != e.Layer || got.Expert != e.Expert {
				t.Fatalf("%s: %s classified as %+v", name, e.Name, got)
			}
		}
		if _, ok := m.Classify("model.layers.0.mlp.experts.0.w9.weight"); ok {
			t.Errorf("%s: a stray name classified", name)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"deepseek-v3", "gpt-oss-20b", "qwen1.5-moe-a2.7b", "qwen3-30b-a3b", "phi-3.5-moe"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "arch", name, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"model_type":"deepseek_v3","hidden_size":1,"num_hidden_layers":1,"num_attention_heads":1,"vocab_size":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "config.json")
		if err != nil {
			return
		}
		m, err := c.Model()
		if err != nil {
			if !errors.Is(err, ErrConfig) && !errors.Is(err, ErrUnknown) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Large but valid configs are fine; only count small ones.
		if int64(m.Layers+m.MTPLayers)*int64(max(m.Experts, 1)) < 1<<12 {
			c := m.Count()
			if c.Shared+c.Experts != c.Total {
				t.Fatalf("inconsistent counts %+v", c)
			}
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Add("model.layers.3.mlp.experts.17.gate_proj.weight")
	f.Add("model.layers.61.shared_head.head.weight")
	f.Add("model.layers.0.mlp.experts.gate_up_proj_blocks")
	f.Add("model.layers.007.self_attn.q_proj.weight")
	models := []*Model{}
	for _, name := range []string{"deepseek-v3", "gpt-oss-20b", "qwen1.5-moe-a2.7b"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "arch", name, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		c, _ := ParseConfig(b, name)
		m, err := c.Model()
		if err != nil {
			f.Fatal(err)
		}
		models = append(models, m)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, m := range models {
			got, ok := m.Classify(name)
			if !ok {
				continue
			}
			if got.Layer >= maxIndex || got.Expert >= maxIndex || got.Decl == nil {
				t.Fatalf("%q: %+v", name, got)
			}
			// A classified name is the declaration's template filled in.
			base := format(got.Decl.HF, got.Layer, got.Expert)
			if got.Piece != "" {
				base += "_" + got.Piece
			}
			if base != name {
				t.Fatalf("%q classified as %q", name, base)
			}
		}
	})
}

// A key or file name taken from a file is printed escaped, on one line.
func TestConfigErrorEscapes(t *testing.T) {
	err := &ConfigError{File: "dir\x1b]0;t\a/config.json", Key: "k", Msg: "value \"x\nfake\" is bad"}
	if s := err.Error(); strings.ContainsAny(s, "\x1b\a\n") {
		t.Errorf("error %q holds control characters", s)
	}
}
