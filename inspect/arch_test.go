package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/formats/safetensors"
)

const archData = "../testdata/arch/"

// Reports of the new families, from their real configs, pinned as goldens.
func TestArchGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"qwen3-30b-a3b", Options{}},
		{"qwen1.5-moe-a2.7b", Options{}},
		{"deepseek-v3", Options{Layers: true}},
		{"gpt-oss-20b", Options{Context: 8192}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mustInspect(t, archData+tt.name+"/config.json", tt.opts)
			checkGolden(t, "arch-"+tt.name+".txt.golden", renderText(t, r))
			js := renderJSON(t, r)
			checkGolden(t, "arch-"+tt.name+".json.golden", js)
			var back Report
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if again := renderJSON(t, &back); !bytes.Equal(again, js) {
				t.Error("JSON does not round-trip through Report")
			}
		})
	}
}

// Every family's report agrees with arch's counts, and the KV cache with
// the family's formula.
func TestArchReports(t *testing.T) {
	ents, err := os.ReadDir(archData)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		m, err := arch.Load(archData + e.Name() + "/config.json")
		if err != nil {
			t.Fatal(err)
		}
		r := mustInspect(t, archData+e.Name()+"/config.json", Options{Context: 4096})
		if m.Family == arch.Mixtral {
			if r.Arch != nil || r.Config == nil {
				t.Errorf("%s: Mixtral must stay on model/", e.Name())
			}
			continue
		}
		c := m.Count()
		p := r.Params
		if r.Arch == nil || p.Total != c.Total || p.Active != c.Active || p.SharedExperts != c.SharedExperts || p.DenseLayerFFN != c.DenseLayerFFN {
			t.Errorf("%s: report %+v, arch counts %+v", e.Name(), p, c)
			continue
		}
		var byGroup int64 = p.ByGroup.Embedding + p.ByGroup.Attention + p.ByGroup.Norms + p.ByGroup.Router + p.ByGroup.Experts + p.ByGroup.DenseFFN + p.ByGroup.OutputHead + p.ByGroup.Unknown
		if byGroup != p.Total {
			t.Errorf("%s: by_group sums to %d, total %d", e.Name(), byGroup, p.Total)
		}
		if (p.MTP != nil) != (m.MTPLayers > 0) {
			t.Errorf("%s: MTP %+v", e.Name(), p.MTP)
		}
		// f16 cache: 2 bytes per value per layer; sliding layers hold 128 tokens.
		var want int64
		for l := 0; l < m.Layers; l++ {
			cells := int64(4096)
			if m.IsSlidingLayer(l) {
				cells = 128
			}
			want += 2 * m.Family.KV.Elements(m) * cells
		}
		if r.Memory.KV.Bytes != want {
			t.Errorf("%s: KV cache %d bytes, want %d", e.Name(), r.Memory.KV.Bytes, want)
		}
	}
	// DeepSeek's latent cache: 576 values per token and layer, 61 layers.
	r := mustInspect(t, archData+"deepseek-v3/config.json", Options{Context: 1000})
	if r.Memory.KV.BytesPerToken != 2*576*61 || r.Memory.KV.HeadDim != 576 || r.Memory.KV.KVHeads != 1 {
		t.Errorf("MLA cache %+v", r.Memory.KV)
	}
	// gpt-oss's checkpoint: MXFP4 experts, not params × 2 bytes.
	r = mustInspect(t, archData+"gpt-oss-120b/config.json", Options{})
	ck := r.Memory.Weights[0]
	if ck.Kind != "checkpoint" || ck.BitsPerWeight > 4.5 || ck.BitsPerWeight < 4.3 {
		t.Errorf("gpt-oss checkpoint %+v", ck)
	}
}

// tinyConfigs are small members of each family, for checkpoints written
// here: every tensor the config calls for, with zero data.
var tinyConfigs = map[string]map[string]any{
	"qwen3_moe": {"model_type": "qwen3_moe", "architectures": []string{"Qwen3MoeForCausalLM"}, "hidden_size": 64, "intermediate_size": 96,
		"moe_intermediate_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
		"num_experts": 8, "num_experts_per_tok": 2, "vocab_size": 100, "mlp_only_layers": []int{1}, "norm_topk_prob": true, "torch_dtype": "bfloat16"},
	"qwen2_moe": {"model_type": "qwen2_moe", "hidden_size": 64, "intermediate_size": 96, "moe_intermediate_size": 32,
		"shared_expert_intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "num_experts": 6,
		"num_experts_per_tok": 2, "vocab_size": 100},
	"deepseek_v3": {"model_type": "deepseek_v3", "hidden_size": 64, "intermediate_size": 96, "moe_intermediate_size": 32,
		"num_hidden_layers": 3, "num_attention_heads": 4, "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2,
		"first_k_dense_replace": 1, "q_lora_rank": 48, "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8,
		"v_head_dim": 16, "vocab_size": 100, "num_nextn_predict_layers": 1,
		"quantization_config": map[string]any{"quant_method": "fp8", "weight_block_size": []int{32, 32}}},
	"olmoe": {"model_type": "olmoe", "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
		"num_experts": 8, "num_experts_per_tok": 2, "vocab_size": 100},
	"phimoe": {"model_type": "phimoe", "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
		"num_key_value_heads": 2, "num_local_experts": 4, "num_experts_per_tok": 2, "vocab_size": 100, "attention_bias": true, "lm_head_bias": true},
	"gpt_oss": {"model_type": "gpt_oss", "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
		"num_key_value_heads": 2, "head_dim": 16, "num_local_experts": 4, "num_experts_per_tok": 2, "vocab_size": 100,
		"quantization_config": map[string]any{"quant_method": "mxfp4"}},
}

func tinyModel(t *testing.T, cfg map[string]any) *arch.Model {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := arch.ParseConfig(b, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeTiny writes the checkpoint of tensorsFrom with config.json cfg.
func writeTiny(t *testing.T, cfg map[string]any, tensorsFrom *arch.Model, drop func(name string) bool) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var infos []safetensors.TensorInfo
	for _, s := range tensorsFrom.StoredTensors() {
		if drop != nil && drop(s.Name) {
			continue
		}
		infos = append(infos, safetensors.TensorInfo{Name: s.Name, DType: safetensors.DType(s.DType), Shape: s.Shape})
	}
	l, err := safetensors.NewLayout(nil, infos)
	if err != nil {
		t.Fatal(err)
	}
	err = safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), l, func(name string, w io.Writer) error {
		info, _ := l.Lookup(name)
		_, err := io.CopyN(w, zeros{}, info.ByteSize())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func errorsOf(r *Report) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// A checkpoint that matches its config is counted from its tensors with
// the same figures and no error.
func TestArchCheckpoints(t *testing.T) {
	for name, cfg := range tinyConfigs {
		t.Run(name, func(t *testing.T) {
			m := tinyModel(t, cfg)
			r := mustInspect(t, writeTiny(t, cfg, m, nil), Options{})
			want := m.Count()
			if r.Params.CountedFrom != "tensors" || r.Params.Total != want.Total || r.Params.Active != want.Active {
				t.Errorf("counted %+v, config %+v", r.Params, want)
			}
			if (want.MTP > 0) != (r.Params.MTP != nil) || r.Params.MTP != nil && r.Params.MTP.Params != want.MTP {
				t.Errorf("MTP %+v, want %d", r.Params.MTP, want.MTP)
			}
			if errs := errorsOf(r); len(errs) > 0 || len(r.Checkpoint.Unrecognized) > 0 {
				t.Errorf("findings %+v, unrecognized %+v", errs, r.Checkpoint.Unrecognized)
			}
			if r.Memory.Weights[0].Kind != "stored" || r.Memory.Weights[0].Bytes+int64(0) > r.Checkpoint.DataBytes {
				t.Errorf("stored weights %+v", r.Memory.Weights[0])
			}
			var text strings.Builder
			if err := r.WriteText(&text); err != nil || !strings.Contains(text.String(), "counted from the tensors") {
				t.Errorf("text: %v", err)
			}
		})
	}
}

// Configs that contradict their tensors: one error finding naming the
// tensor and the config keys behind its shape.
func TestArchContradictions(t *testing.T) {
	tests := []struct {
		family string
		key    string
		value  any
		tensor string
	}{
		{"qwen3_moe", "num_experts", 16, "model.layers.0.mlp.gate.weight"},
		{"qwen2_moe", "shared_expert_intermediate_size", 40, "model.layers.0.mlp.shared_expert.gate_proj.weight"},
		{"deepseek_v3", "kv_lora_rank", 24, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight"},
		{"deepseek_v3", "q_lora_rank", 40, "model.layers.0.self_attn.q_a_proj.weight"},
		{"gpt_oss", "num_local_experts", 8, "model.layers.0.mlp.router.weight"},
		{"olmoe", "num_key_value_heads", 2, "model.layers.0.self_attn.k_norm.weight"},
		{"phimoe", "intermediate_size", 48, "model.layers.0.block_sparse_moe.experts.0.w1.weight"},
	}
	for _, tt := range tests {
		t.Run(tt.family+"/"+tt.key, func(t *testing.T) {
			truth := tinyConfigs[tt.family]
			claimed := map[string]any{}
			for k, v := range truth {
				claimed[k] = v
			}
			claimed[tt.key] = tt.value
			r := mustInspect(t, writeTiny(t, claimed, tinyModel(t, truth), nil), Options{})
			errs := errorsOf(r)
			if len(errs) == 0 || errs[0].Code != "config-contradicts-tensors" ||
				!strings.Contains(errs[0].Message, tt.tensor) || !strings.Contains(errs[0].Message, tt.key) {
				t.Errorf("findings %+v", errs)
			}
		})
	}
	// A missing tensor is named too.
	cfg := tinyConfigs["deepseek_v3"]
	m := tinyModel(t, cfg)
	r := mustInspect(t, writeTiny(t, cfg, m, func(n string) bool { return n == "model.layers.3.eh_proj.weight" }), Options{})
	found := false
	for _, f := range errorsOf(r) {
		found = found || f.Code == "missing-tensors" && strings.Contains(f.Message, "model.layers.3.eh_proj.weight")
	}
	if !found {
		t.Errorf("findings %+v", r.Findings)
	}
}

// A config missing a family key is one error naming the key.
func TestArchMissingKey(t *testing.T) {
	dir := t.TempDir()
	cfg := map[string]any{}
	for k, v := range tinyConfigs["deepseek_v3"] {
		cfg[k] = v
	}
	delete(cfg, "kv_lora_rank")
	b, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "config.json")
	os.WriteFile(p, b, 0o644)
	_, err := Inspect(p, Options{})
	if !errors.Is(err, arch.ErrConfig) || !strings.Contains(err.Error(), `"kv_lora_rank"`) || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("got %v", err)
	}
}

// An architecture no family claims: an error naming it and the known
// families, and from tensors a report of what the headers show.
func TestUnknownArchitecture(t *testing.T) {
	truth := tinyConfigs["qwen3_moe"]
	claimed := map[string]any{"model_type": "jamba", "architectures": []string{"JambaForCausalLM"}}
	dir := writeTiny(t, claimed, tinyModel(t, truth), nil)
	r, err := Inspect(dir, Options{})
	if !errors.Is(err, arch.ErrUnknown) || !strings.Contains(err.Error(), "jamba") || !strings.Contains(err.Error(), "Qwen3-MoE") {
		t.Fatalf("error %v", err)
	}
	if r == nil || r.Survey == nil || !r.Survey.Inferred {
		t.Fatalf("report %+v", r)
	}
	m := tinyModel(t, truth)
	c := m.Count()
	s := r.Survey
	if s.Params != c.Total || s.ExpertParams != c.Experts || s.Layers != 3 || s.Experts != 8 {
		t.Errorf("survey %d params, %d in experts, %d layers, %d experts; want %d, %d, 3, 8", s.Params, s.ExpertParams, s.Layers, s.Experts, c.Total, c.Experts)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"unknown architecture", "model.layers.{L}.mlp.experts.{E}.gate_proj.weight", "inferred", "DeepSeek-V3/R1"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	// A config alone: just the error.
	if _, err := Inspect(filepath.Join(dir, "config.json"), Options{}); !errors.Is(err, arch.ErrUnknown) {
		t.Errorf("config alone: %v", err)
	}
}

// Without config.json, tensors that are not Mixtral's are surveyed too.
func TestUnknownWithoutConfig(t *testing.T) {
	dir := writeTiny(t, tinyConfigs["gpt_oss"], tinyModel(t, tinyConfigs["gpt_oss"]), nil)
	if err := os.Remove(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(dir, Options{})
	if !errors.Is(err, arch.ErrUnknown) || !strings.Contains(err.Error(), "no config.json") || r == nil || r.Survey == nil {
		t.Fatalf("report %v, error %v", r, err)
	}
	// gpt-oss stacks its experts: no expert index in names, but the
	// tensors still look like experts.
	if r.Survey.ExpertTensors != 2*6 || r.Survey.Experts != 0 || r.Survey.Layers != 2 {
		t.Errorf("survey %+v", r.Survey)
	}
}

// BenchmarkInspectDeepSeekV3Config is the largest family config: 62 layers
// of 256 experts, about 47,000 tensors described.
func BenchmarkInspectDeepSeekV3Config(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r, err := Inspect(archData+"deepseek-v3/config.json", Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzNamePattern(f *testing.F) {
	f.Add("model.layers.12.mlp.experts.7.gate_proj.weight")
	f.Add("blk.3.ffn_gate.5.weight")
	f.Add("a.1.2.3")
	f.Fuzz(func(t *testing.T, name string) {
		p, layer, expert := namePattern(name)
		if strings.Count(p, ".") != strings.Count(name, ".") || layer >= 1e6 || expert >= 1e6 {
			t.Fatalf("%q -> %q %d %d", name, p, layer, expert)
		}
		if expert >= 0 && layer < 0 {
			t.Fatalf("%q: expert %d without a layer", name, expert)
		}
	})
}
