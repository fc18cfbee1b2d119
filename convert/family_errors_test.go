package convert

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/testutil"
)

// A tiny-mixtral config edited to contradict its tensors, or to name a
// family conversion does not support, is refused with one error naming the
// key or tensor, and nothing is written.
func TestConfigContradictsTensors(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		want     []string
	}{
		{"fewer experts", `"num_local_experts": 8`, `"num_local_experts": 7`, []string{"model.layers.0.block_sparse_moe.gate.weight", "config.json"}},
		{"more experts", `"num_local_experts": 8`, `"num_local_experts": 9`, []string{"model.layers.0.block_sparse_moe.gate.weight"}},
		{"no experts", `"num_local_experts": 8`, `"num_local_experts": 1`, []string{"model.layers.0.mlp.gate_proj.weight", "missing"}},
		{"top-k above experts", `"num_experts_per_tok": 2`, `"num_experts_per_tok": 9`, []string{"num_experts_per_tok"}},
		{"kv heads", `"num_key_value_heads": 2`, `"num_key_value_heads": 4`, []string{"model.layers.0.self_attn.k_proj.weight"}},
		{"hidden size", `"hidden_size": 256`, `"hidden_size": 128`, []string{"model.embed_tokens.weight"}},
		{"vocabulary", `"vocab_size": 1024`, `"vocab_size": 1000`, []string{"model.embed_tokens.weight"}},
		{"layers", `"num_hidden_layers": 2`, `"num_hidden_layers": 3`, []string{"model.layers.2."}},
		{"family inspect knows", `"model_type": "mixtral"`, `"model_type": "deepseek_v3"`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.CopyTiny(t)
			editConfig(t, dir, tc.from, tc.to)
			want := tc.want
			if want == nil {
				editConfig(t, dir, `"MixtralForCausalLM"`, `"DeepseekV3ForCausalLM"`)
				want = []string{"DeepseekV3ForCausalLM", "DeepSeek-V3/R1, known to inspect", "conversion supports mixtral, mistral, llama, qwen3_moe"}
			}
			out := filepath.Join(t.TempDir(), "out.gguf")
			err := convertDir(dir, out, ggml.FileTypeQ8_0)
			if err == nil {
				t.Fatal("conversion succeeded")
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error spans lines: %q", err)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			assertNothingWritten(t, out)
		})
	}
}
