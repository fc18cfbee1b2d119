package model

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadConfigFiles(t *testing.T) {
	tests := []struct {
		file string
		want Config
	}{
		{"mixtral-8x7b.config.json", Config{
			Architecture: "MixtralForCausalLM", ModelType: "mixtral",
			HiddenSize: 4096, IntermediateSize: 14336, NumLayers: 32, NumHeads: 32, NumKVHeads: 8, HeadDim: 128,
			NumExperts: 8, ExpertsPerToken: 2, VocabSize: 32000, MaxPositionEmbeddings: 32768,
			RopeTheta: 1e6, RMSNormEps: 1e-5, TorchDType: "bfloat16", BOSTokenID: 1, EOSTokenID: 2,
		}},
		{"tiny-mixtral.config.json", Config{
			Architecture: "MixtralForCausalLM", ModelType: "mixtral",
			HiddenSize: 256, IntermediateSize: 512, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 64,
			NumExperts: 8, ExpertsPerToken: 2, VocabSize: 1024, MaxPositionEmbeddings: 4096,
			RopeTheta: 1e6, RMSNormEps: 1e-5, TorchDType: "bfloat16", BOSTokenID: 1, EOSTokenID: 2,
		}},
		{"mistral-7b-v0.1.config.json", Config{
			Architecture: "MistralForCausalLM", ModelType: "mistral",
			HiddenSize: 4096, IntermediateSize: 14336, NumLayers: 32, NumHeads: 32, NumKVHeads: 8, HeadDim: 128,
			NumExperts: 1, ExpertsPerToken: 1, VocabSize: 32000, MaxPositionEmbeddings: 32768, SlidingWindow: 4096,
			RopeTheta: 1e4, RMSNormEps: 1e-5, TorchDType: "bfloat16", BOSTokenID: 1, EOSTokenID: 2,
		}},
		{"llama-2-7b.config.json", Config{
			Architecture: "LlamaForCausalLM", ModelType: "llama",
			HiddenSize: 4096, IntermediateSize: 11008, NumLayers: 32, NumHeads: 32, NumKVHeads: 32, HeadDim: 128,
			NumExperts: 1, ExpertsPerToken: 1, VocabSize: 32000, MaxPositionEmbeddings: 4096,
			RopeTheta: 1e4, RMSNormEps: 1e-5, TorchDType: "float16", BOSTokenID: 1, EOSTokenID: 2,
			Defaulted: []string{"sliding_window", "rope_theta"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := LoadConfig(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*c, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *c, tt.want)
			}
		})
	}
}

// base is a minimal valid Mixtral config; cases patch it.
const base = `"architectures":["MixtralForCausalLM"],"model_type":"mixtral","hidden_size":64,"intermediate_size":128,
"num_hidden_layers":2,"num_attention_heads":8,"vocab_size":100`

func TestParseConfigVariants(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		check func(t *testing.T, c *Config)
	}{
		{"mixtral defaults", `{` + base + `}`, func(t *testing.T, c *Config) {
			want := Config{Architecture: "MixtralForCausalLM", ModelType: "mixtral", HiddenSize: 64, IntermediateSize: 128,
				NumLayers: 2, NumHeads: 8, NumKVHeads: 8, HeadDim: 8, NumExperts: 8, ExpertsPerToken: 2, VocabSize: 100,
				MaxPositionEmbeddings: 131072, RopeTheta: 1e6, RMSNormEps: 1e-5, BOSTokenID: 1, EOSTokenID: 2,
				Defaulted: []string{"num_key_value_heads", "num_local_experts", "num_experts_per_tok", "max_position_embeddings",
					"sliding_window", "rope_theta", "rms_norm_eps", "tie_word_embeddings", "bos_token_id", "eos_token_id"}}
			if !reflect.DeepEqual(*c, want) {
				t.Errorf("got  %+v\nwant %+v", *c, want)
			}
		}},
		{"explicit head_dim", `{` + base + `,"num_key_value_heads":2,"head_dim":32}`, func(t *testing.T, c *Config) {
			if c.HeadDim != 32 || c.NumKVHeads != 2 {
				t.Errorf("head_dim %d kv %d", c.HeadDim, c.NumKVHeads)
			}
			if got := c.HFTensors()[1].Shape; !reflect.DeepEqual(got, []int64{256, 64}) {
				t.Errorf("q_proj shape %v, want [256 64] (8 heads × 32)", got)
			}
		}},
		{"null head_dim", `{` + base + `,"num_key_value_heads":2,"head_dim":null}`, func(t *testing.T, c *Config) {
			if c.HeadDim != 8 {
				t.Errorf("head_dim %d, want 8", c.HeadDim)
			}
		}},
		{"early mixtral typed mistral", `{"architectures":["MixtralForCausalLM"],"model_type":"mistral","hidden_size":64,
			"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,
			"num_local_experts":8,"num_experts_per_tok":2}`, func(t *testing.T, c *Config) {
			if c.NumExperts != 8 || c.ExpertsPerToken != 2 || !c.IsMoE() {
				t.Errorf("experts %d top-k %d", c.NumExperts, c.ExpertsPerToken)
			}
			if c.RopeTheta != 1e4 || c.SlidingWindow != 4096 {
				t.Errorf("mistral defaults not applied: theta %g window %d", c.RopeTheta, c.SlidingWindow)
			}
		}},
		{"mistral class carrying experts", `{"architectures":["MistralForCausalLM"],"model_type":"mistral","hidden_size":64,
			"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,
			"num_local_experts":4}`, func(t *testing.T, c *Config) {
			if c.NumExperts != 4 || c.ExpertsPerToken != 2 {
				t.Errorf("experts %d top-k %d", c.NumExperts, c.ExpertsPerToken)
			}
		}},
		{"sliding window number", `{` + base + `,"num_key_value_heads":2,"sliding_window":4096}`, func(t *testing.T, c *Config) {
			if c.SlidingWindow != 4096 {
				t.Errorf("sliding_window %d", c.SlidingWindow)
			}
		}},
		{"sliding window null on mistral", `{"model_type":"mistral","hidden_size":64,"intermediate_size":128,
			"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":4,"vocab_size":100,"sliding_window":null}`, func(t *testing.T, c *Config) {
			if c.SlidingWindow != 0 || c.Architecture != "MistralForCausalLM" || c.NumKVHeads != 4 {
				t.Errorf("window %d arch %s kv %d", c.SlidingWindow, c.Architecture, c.NumKVHeads)
			}
		}},
		{"llama defaults", `{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,
			"num_attention_heads":4,"vocab_size":100,"tie_word_embeddings":true,"eos_token_id":[128001,128009]}`, func(t *testing.T, c *Config) {
			if c.NumKVHeads != 4 || c.MaxPositionEmbeddings != 2048 || c.RMSNormEps != 1e-6 || c.RopeTheta != 1e4 {
				t.Errorf("llama defaults: %+v", c)
			}
			if !c.TieWordEmbeddings || c.EOSTokenID != 128001 || c.NumExperts != 1 || c.ExpertsPerToken != 1 {
				t.Errorf("tie %v eos %d experts %d/%d", c.TieWordEmbeddings, c.EOSTokenID, c.NumExperts, c.ExpertsPerToken)
			}
			for _, e := range c.HFTensors() {
				if e.Name == "lm_head.weight" {
					t.Error("tied model lists lm_head.weight")
				}
			}
		}},
		{"rope_parameters and dtype", `{` + base + `,"num_key_value_heads":2,"rope_parameters":{"rope_theta":500000.0,"rope_type":"default"},"dtype":"float16"}`, func(t *testing.T, c *Config) {
			if c.RopeTheta != 5e5 || c.TorchDType != "float16" {
				t.Errorf("theta %g dtype %q", c.RopeTheta, c.TorchDType)
			}
		}},
		{"integral float", `{` + base + `,"num_key_value_heads":2.0}`, func(t *testing.T, c *Config) {
			if c.NumKVHeads != 2 {
				t.Errorf("kv %d", c.NumKVHeads)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, json, key string
	}{
		{"not json", `{`, ""},
		{"not an object", `[1,2]`, ""},
		{"unknown architecture", `{"architectures":["GPT2LMHeadModel"],"hidden_size":8}`, "architectures"},
		{"unknown model type", `{"model_type":"gpt2","hidden_size":8}`, "model_type"},
		{"no architecture at all", `{"hidden_size":8}`, "architectures"},
		{"architectures not a list", `{"architectures":"MixtralForCausalLM"}`, "architectures"},
		{"missing hidden_size", `{"model_type":"mixtral","intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}`, "hidden_size"},
		{"missing vocab", `{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4}`, "vocab_size"},
		{"zero layers", `{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":0,"num_attention_heads":4,"vocab_size":100}`, "num_hidden_layers"},
		{"string number", `{"model_type":"llama","hidden_size":"64","intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}`, "hidden_size"},
		{"fractional", `{"model_type":"llama","hidden_size":64.5,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}`, "hidden_size"},
		{"huge", `{"model_type":"llama","hidden_size":1e300,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}`, "hidden_size"},
		{"heads do not divide hidden", `{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":5,"vocab_size":100}`, "num_attention_heads"},
		{"kv heads do not divide", `{` + base + `,"num_key_value_heads":3}`, "num_key_value_heads"},
		{"default kv heads do not divide", `{"model_type":"mixtral","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}`, "num_key_value_heads"},
		{"too many layers", `{` + base + `,"num_hidden_layers":100000}`, "num_hidden_layers"},
		{"top-k above experts", `{` + base + `,"num_key_value_heads":2,"num_local_experts":2,"num_experts_per_tok":3}`, "num_experts_per_tok"},
		{"zero experts", `{` + base + `,"num_key_value_heads":2,"num_local_experts":0}`, "num_local_experts"},
		{"negative window", `{` + base + `,"num_key_value_heads":2,"sliding_window":-1}`, "sliding_window"},
		{"bad rope", `{` + base + `,"num_key_value_heads":2,"rope_theta":0}`, "rope_theta"},
		{"bad eps", `{` + base + `,"num_key_value_heads":2,"rms_norm_eps":"x"}`, "rms_norm_eps"},
		{"bad tie", `{` + base + `,"num_key_value_heads":2,"tie_word_embeddings":1}`, "tie_word_embeddings"},
		{"bad head_dim", `{` + base + `,"num_key_value_heads":2,"head_dim":0}`, "head_dim"},
		{"bad eos list", `{` + base + `,"num_key_value_heads":2,"eos_token_id":["a"]}`, "eos_token_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if err == nil {
				t.Fatal("no error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			if ce.Key != tt.key {
				t.Errorf("key %q, want %q (%v)", ce.Key, tt.key, err)
			}
		})
	}
}

func TestLoadConfigNamesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(`{"model_type":"llama"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+": ") {
		t.Fatalf("error %v does not start with the file name", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestValidate(t *testing.T) {
	c, err := LoadConfig("testdata/mixtral-8x7b.config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := *c
	bad.ExpertsPerToken = 9
	if bad.Validate() == nil {
		t.Error("top-k 9 of 8 accepted")
	}
	bad = *c
	bad.HeadDim = 0
	if bad.Validate() == nil {
		t.Error("head_dim 0 accepted")
	}
}

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{` + base + `,"num_key_value_heads":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config Validate rejects: %v", err)
		}
		// Keep the expected-tensor listing bounded for fuzzed sizes.
		if int64(c.NumLayers)*int64(c.NumExperts) < 1<<12 {
			_ = c.Params()
		}
	})
}
