package model

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/formats/gguf"
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

// Every converting family's declarations name and shape model's roles: the
// GGUF names are the same in every family (ClassifyGGUF needs no family),
// the Hugging Face ones are the family's.
func TestRolesFollowArch(t *testing.T) {
	c := &Config{HiddenSize: 64, IntermediateSize: 96, ExpertIntermediateSize: 32, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 24,
		NumExperts: 4, ExpertsPerToken: 2, VocabSize: 100}
	for _, f := range arch.Converting() {
		c.Family = familyName(f)
		if f == arch.Mixtral {
			c.ExpertIntermediateSize = 0 // Mixtral's experts are intermediate_size wide
		}
		m := c.archModel()
		known := 0
		for _, d := range f.Tensors {
			var r Role
			if r.UnmarshalText([]byte(d.Role)) != nil {
				continue // a tensor model refuses (attention biases)
			}
			known++
			s := spec(r)
			if s.gguf != d.GGUF || c.hfTemplate(s) != d.HF {
				t.Errorf("%s %s: model names %q, %q; arch %q, %q", f.Name, d.Role, c.hfTemplate(s), s.gguf, d.HF, d.GGUF)
			}
			if got, want := s.shape(c), d.Shape(m); !slices.Equal(got, want) {
				t.Errorf("%s %s: shape %v, arch %v", f.Name, d.Role, got, want)
			}
			tr := TensorRole{Role: r, Layer: 1, Expert: -1}
			if r.PerExpert() {
				tr.Expert = 3
			} else if !r.PerLayer() {
				tr.Layer = -1
			}
			if got := ClassifyHF(c.HFName(tr)); got != tr {
				t.Errorf("%s %s: %q classifies as %+v", f.Name, d.Role, c.HFName(tr), got)
			}
		}
		for _, n := range f.GGUFOrder {
			if specNamed(n) == nil || !f.Has(n) {
				t.Errorf("%s: GGUFOrder lists %q, which is no role of model and the family", f.Name, n)
			}
		}
		for _, d := range f.Tensors {
			if specNamed(d.Role) != nil && !slices.Contains(f.GGUFOrder, d.Role) {
				t.Errorf("%s: %s is missing from GGUFOrder", f.Name, d.Role)
			}
		}
		if known < 14 {
			t.Errorf("%s: only %d of its tensors are model roles", f.Name, known)
		}
		c.ExpertIntermediateSize = 32
	}
}

// A GGUF of an architecture model does not read is refused naming it, the
// family when inspect knows it, and the architectures model reads.
func TestConfigFromGGUFArchitectures(t *testing.T) {
	for _, tc := range []struct {
		arch string
		want []string
	}{
		{"deepseek2", []string{`"deepseek2"`, "DeepSeek", "known to inspect", `Mixtral/Mistral/Llama converts to "llama"`, `Qwen3-MoE converts to "qwen3moe"`}},
		{"gemma", []string{`"gemma" is not supported`, `converts to "llama"`}},
	} {
		l, err := gguf.NewLayout([]gguf.KV{{Key: "general.architecture", Value: gguf.String(tc.arch)}}, nil, 32)
		if err != nil {
			t.Fatal(err)
		}
		h := l.Header()
		f, err := gguf.NewFile(bytes.NewReader(h), int64(len(h)), "m.gguf")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = ConfigFromGGUF(f)
		if err == nil {
			t.Fatalf("%s: no error", tc.arch)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.arch, err, w)
			}
		}
	}
}

// An expert width set apart from intermediate_size shapes the experts in
// every family; 0 means intermediate_size.
func TestExpertWidth(t *testing.T) {
	for _, family := range []string{"", FamilyQwen3MoE} {
		for _, width := range []int{0, 32} {
			c := &Config{Family: family, HiddenSize: 64, IntermediateSize: 96, ExpertIntermediateSize: width, NumLayers: 1, NumHeads: 4,
				NumKVHeads: 2, HeadDim: 16, NumExperts: 4, ExpertsPerToken: 2, VocabSize: 100}
			want := int64(96)
			if width > 0 {
				want = int64(width)
			}
			gate, ok1 := c.ExpectedHF(TensorRole{Role: RoleExpertGate, Layer: 0, Expert: 1})
			down, ok2 := c.ExpectedHF(TensorRole{Role: RoleExpertDown, Layer: 0, Expert: 1})
			if !ok1 || !ok2 || !slices.Equal(gate, []int64{want, 64}) || !slices.Equal(down, []int64{64, want}) {
				t.Errorf("family %q width %d: gate %v, down %v", family, width, gate, down)
			}
		}
	}
}
