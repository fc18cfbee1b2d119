package tokenizer

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestGGUFMetadataMixtral(t *testing.T) {
	v := mustLoad(t, mixtralDir, 32000)
	kvs := v.GGUFMetadata()
	want := []KV{
		{KeyModel, "llama"},
		{KeyPre, "default"},
		{KeyTokens, v.Tokens},
		{KeyScores, v.Scores},
		{KeyTokenType, v.Types},
		{"tokenizer.ggml.bos_token_id", uint32(1)},
		{"tokenizer.ggml.eos_token_id", uint32(2)},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
		// SpecialVocab's dict order: TemplateProcessing set bos and sep,
		// then tokenizer_config.json added eos.
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_sep_token", false},
		{"tokenizer.ggml.add_eos_token", false},
	}
	if !reflect.DeepEqual(kvs, want) {
		for i := range max(len(kvs), len(want)) {
			var got, w KV
			if i < len(kvs) {
				got = kvs[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("kv %d = %s %T, want %s %T", i, got.Key, got.Value, w.Key, w.Value)
			}
		}
	}
}

// TestGGUFRoundTrip is Vocab → GGUFMetadata → FromGGUFMetadata for the real
// vocabularies and one with every optional key set.
func TestGGUFRoundTrip(t *testing.T) {
	full := mustLoad(t, tinyDir, 1030)
	full.PAD, full.SEP, full.MASK, full.EOT, full.EOM = 1025, 2, 1026, 1027, 1028
	full.AddEOS, full.AddSpacePrefix = boolPtr(true), boolPtr(false)
	full.ChatTemplate = "{{ x }}"
	full.ChatTemplates = []NamedTemplate{{"tool_use", "T"}, {"rag", "R"}}
	full.NormalizerLowercase = true
	for name, v := range map[string]*Vocab{"mixtral": mustLoad(t, mixtralDir, 32000), "tiny": mustLoad(t, tinyDir, 1024), "all keys": full} {
		t.Run(name, func(t *testing.T) {
			kvs := v.GGUFMetadata()
			m := map[string]any{}
			for _, kv := range kvs {
				if _, dup := m[kv.Key]; dup {
					t.Fatalf("key %s written twice", kv.Key)
				}
				switch kv.Value.(type) {
				case string, uint32, bool, []string, []float32, []int32:
				default:
					t.Fatalf("key %s has Go type %T, outside the documented set", kv.Key, kv.Value)
				}
				m[kv.Key] = kv.Value
			}
			got, err := FromGGUFMetadata(func(k string) (any, bool) { x, ok := m[k]; return x, ok })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Tokens, v.Tokens) || !slices.Equal(got.Scores, v.Scores) || !slices.Equal(got.Types, v.Types) {
				t.Error("token arrays changed")
			}
			if got.Model != v.Model || got.Pre != v.Pre || got.BOS != v.BOS || got.EOS != v.EOS || got.UNK != v.UNK || got.SEP != v.SEP ||
				got.PAD != v.PAD || got.MASK != v.MASK || got.EOT != v.EOT || got.EOM != v.EOM {
				t.Errorf("ids changed: %+v", got)
			}
			if !reflect.DeepEqual([]*bool{got.AddBOS, got.AddEOS, got.AddSEP, got.AddSpacePrefix}, []*bool{v.AddBOS, v.AddEOS, v.AddSEP, v.AddSpacePrefix}) {
				t.Error("flags changed")
			}
			if got.ChatTemplate != v.ChatTemplate || !slices.Equal(got.ChatTemplates, v.ChatTemplates) || got.NormalizerLowercase != v.NormalizerLowercase {
				t.Error("templates or normalizer flag changed")
			}
			again := map[string]any{}
			for _, kv := range got.GGUFMetadata() {
				again[kv.Key] = kv.Value
			}
			if !reflect.DeepEqual(again, m) {
				t.Error("second GGUFMetadata differs")
			}
		})
	}
}

// TestGGUFRoundTripEncode: a vocabulary read back from GGUF metadata
// tokenizes the reference strings exactly as the original.
func TestGGUFRoundTripEncode(t *testing.T) {
	v := mustLoad(t, mixtralDir, 32000)
	m := map[string]any{}
	for _, kv := range v.GGUFMetadata() {
		m[kv.Key] = kv.Value
	}
	got, err := FromGGUFMetadata(func(k string) (any, bool) { x, ok := m[k]; return x, ok })
	if err != nil {
		t.Fatal(err)
	}
	checkEncode(t, got, readEncodeCases(t, filepath.Join(mixtralDir, "tokenization-reference.json")))
}

func TestFromGGUFMetadataTypes(t *testing.T) {
	m := map[string]any{
		KeyModel:                          "llama",
		KeyTokens:                         []string{"<unk>", "<s>", "</s>", "a"},
		KeyScores:                         []float64{0, 0, 0, -1},
		KeyTokenType:                      []uint8{2, 3, 3, 1},
		"tokenizer.ggml.bos_token_id":     int64(1),
		"tokenizer.ggml.eos_token_id":     uint8(2),
		"tokenizer.ggml.add_bos_token":    true,
		"tokenizer.ggml.padding_token_id": int(3),
	}
	v, err := FromGGUFMetadata(func(k string) (any, bool) { x, ok := m[k]; return x, ok })
	if err != nil {
		t.Fatal(err)
	}
	if v.Scores[3] != -1 || v.Types[0] != 2 || v.BOS != 1 || v.EOS != 2 || v.PAD != 3 || !*v.AddBOS || v.Pre != "" || v.Source != "gguf" {
		t.Errorf("vocab %+v", v)
	}
	if slices.Contains(metadataKeys(v), KeyPre) {
		t.Error("absent tokenizer.ggml.pre written back")
	}
}

func TestFromGGUFMetadataErrors(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{KeyModel: "llama", KeyTokens: []string{"a", "b", "c"}}
	}
	tests := []struct {
		name     string
		edit     func(map[string]any)
		want     string
		sentinel error
	}{
		{"no model", func(m map[string]any) { delete(m, KeyModel) }, "tokenizer.ggml.model: missing", ErrFormat},
		{"model not a string", func(m map[string]any) { m[KeyModel] = 5 }, "want string", ErrFormat},
		{"bert model", func(m map[string]any) { m[KeyModel] = "bert" }, `"bert"`, ErrUnsupported},
		{"gpt2 without merges", func(m map[string]any) { m[KeyModel] = "gpt2" }, "tokenizer.ggml.merges: missing", ErrFormat},
		{"gpt2 merges wrong type", func(m map[string]any) { m[KeyModel], m[KeyMerges] = "gpt2", []any{"a b"} }, "want []string", ErrFormat},
		{"gpt2 merge not a pair", func(m map[string]any) { m[KeyModel], m[KeyMerges] = "gpt2", []string{"a b", "abc"} }, `merge 1 "abc"`, ErrFormat},
		{"no tokens", func(m map[string]any) { delete(m, KeyTokens) }, "tokenizer.ggml.tokens: missing", ErrFormat},
		{"tokens wrong type", func(m map[string]any) { m[KeyTokens] = []any{"a"} }, "want []string", ErrFormat},
		{"pre wrong type", func(m map[string]any) { m[KeyPre] = true }, "tokenizer.ggml.pre", ErrFormat},
		{"scores length", func(m map[string]any) { m[KeyScores] = []float32{1} }, "1 scores for 3 tokens", ErrFormat},
		{"scores type", func(m map[string]any) { m[KeyScores] = []int32{1, 2, 3} }, "want []float32", ErrFormat},
		{"types length", func(m map[string]any) { m[KeyTokenType] = []int32{1} }, "1 token types for 3 tokens", ErrFormat},
		{"types overflow", func(m map[string]any) { m[KeyTokenType] = []int64{1, 1, 1 << 40} }, "element 2", ErrFormat},
		{"types not a slice", func(m map[string]any) { m[KeyTokenType] = "x" }, "want []int32", ErrFormat},
		{"bos out of range", func(m map[string]any) { m["tokenizer.ggml.bos_token_id"] = uint32(3) }, "bos_token_id: 3 is not a token id below 3", ErrFormat},
		{"eos negative", func(m map[string]any) { m["tokenizer.ggml.eos_token_id"] = int32(-1) }, "eos_token_id", ErrFormat},
		{"id not integer", func(m map[string]any) { m["tokenizer.ggml.unknown_token_id"] = "0" }, "unknown_token_id", ErrFormat},
		{"flag not bool", func(m map[string]any) { m["tokenizer.ggml.add_bos_token"] = uint8(1) }, "add_bos_token: value of type uint8, want bool", ErrFormat},
		{"space prefix not bool", func(m map[string]any) { m[KeyAddSpace] = 1 }, "add_space_prefix", ErrFormat},
		{"lowercase not bool", func(m map[string]any) { m[KeyLowercase] = "yes" }, "lowercase", ErrFormat},
		{"template not string", func(m map[string]any) { m[KeyChatTemplate] = []string{"x"} }, "tokenizer.chat_template: value", ErrFormat},
		{"template names not strings", func(m map[string]any) { m[KeyChatTemplates] = "x" }, "tokenizer.chat_templates", ErrFormat},
		{"named template missing", func(m map[string]any) { m[KeyChatTemplates] = []string{"tool"} }, "tokenizer.chat_template.tool: named in", ErrFormat},
		{"named template not string", func(m map[string]any) {
			m[KeyChatTemplates] = []string{"tool"}
			m["tokenizer.chat_template.tool"] = 1
		}, "tokenizer.chat_template.tool: value", ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.edit(m)
			_, err := FromGGUFMetadata(func(k string) (any, bool) { x, ok := m[k]; return x, ok })
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v, want %q matching %v", err, tc.want, tc.sentinel)
			}
		})
	}
}
