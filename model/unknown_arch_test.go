package model

import (
	"errors"
	"strings"
	"testing"
)

// A config of a family only inspect describes, or of no family at all, is
// refused naming what it is and what conversion supports.
func TestParseConfigUnconvertedFamily(t *testing.T) {
	const conv = "conversion supports mixtral, mistral, llama, qwen3_moe"
	tests := []struct {
		name, json, key string
		want            []string
	}{
		{"deepseek by model_type", `{"model_type":"deepseek_v3","hidden_size":8}`, "model_type",
			[]string{`"deepseek_v3"`, "DeepSeek-V3/R1, known to inspect", conv}},
		{"gpt-oss by architectures", `{"architectures":["GptOssForCausalLM"],"model_type":"gpt_oss"}`, "architectures",
			[]string{"GptOssForCausalLM", "gpt-oss, known to inspect", conv}},
		{"qwen2-moe", `{"architectures":["Qwen2MoeForCausalLM"]}`, "architectures",
			[]string{"Qwen2MoeForCausalLM", "Qwen2-MoE, known to inspect", conv}},
		{"unknown", `{"architectures":["JambaForCausalLM"],"model_type":"jamba"}`, "architectures",
			[]string{"unknown architecture", "JambaForCausalLM", "mxq knows", "Mixtral/Mistral/Llama", "DeepSeek-V3/R1", conv}},
		{"unknown model type", `{"model_type":"jamba"}`, "model_type",
			[]string{`unknown model type "jamba"`, conv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key {
				t.Fatalf("error %v, want a *ConfigError on %q", err, tt.key)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}
