package tokenizer

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// KV is one GGUF metadata key/value. Value uses Go types that map one to one
// onto GGUF value types:
//
//	string    → STRING
//	uint32    → UINT32 (token ids; llama.cpp requires UINT32 here)
//	bool      → BOOL
//	[]string  → ARRAY of STRING
//	[]float32 → ARRAY of FLOAT32
//	[]int32   → ARRAY of INT32
type KV struct {
	Key   string
	Value any
}

// GGUF metadata keys written for a vocabulary (gguf-py constants.py).
const (
	KeyModel         = "tokenizer.ggml.model"
	KeyPre           = "tokenizer.ggml.pre"
	KeyTokens        = "tokenizer.ggml.tokens"
	KeyScores        = "tokenizer.ggml.scores"
	KeyTokenType     = "tokenizer.ggml.token_type"
	KeyMerges        = "tokenizer.ggml.merges"
	KeyAddSpace      = "tokenizer.ggml.add_space_prefix"
	KeyLowercase     = "tokenizer.ggml.normalizer.lowercase"
	KeyChatTemplate  = "tokenizer.chat_template"
	KeyChatTemplates = "tokenizer.chat_templates"
)

// idKeys maps special token kinds to their GGUF keys. "seperator" is
// spelled as gguf-py and llama.cpp spell it.
var idKeys = map[string]string{
	"bos":  "tokenizer.ggml.bos_token_id",
	"eos":  "tokenizer.ggml.eos_token_id",
	"unk":  "tokenizer.ggml.unknown_token_id",
	"sep":  "tokenizer.ggml.seperator_token_id",
	"pad":  "tokenizer.ggml.padding_token_id",
	"mask": "tokenizer.ggml.mask_token_id",
	"eot":  "tokenizer.ggml.eot_token_id",
	"eom":  "tokenizer.ggml.eom_token_id",
}

var idKinds = []string{"bos", "eos", "unk", "sep", "pad", "mask", "eot", "eom"}

var addKeys = map[string]string{
	"bos": "tokenizer.ggml.add_bos_token",
	"eos": "tokenizer.ggml.add_eos_token",
	"sep": "tokenizer.ggml.add_sep_token",
}

var addKinds = []string{"bos", "eos", "sep"}

// ordered returns the kinds in first, then the rest of all, without repeats.
func ordered(first, all []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range [][]string{first, all} {
		for _, k := range l {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// ChatTemplateKey is the GGUF key of a named chat template.
func ChatTemplateKey(name string) string { return KeyChatTemplate + "." + name }

// GGUFMetadata returns the tokenizer keys in the order convert_hf_to_gguf.py
// writes them: model, pre, tokens, scores, token types, merges, special ids,
// add_*_token flags (both in the order SpecialVocab found them), chat
// templates, normalizer flag, add_space_prefix. Absent values are omitted.
// The slices in the result alias v's.
func (v *Vocab) GGUFMetadata() []KV {
	kvs := []KV{{KeyModel, v.Model}}
	if v.Pre != "" {
		kvs = append(kvs, KV{KeyPre, v.Pre})
	}
	kvs = append(kvs, KV{KeyTokens, v.Tokens})
	if v.Scores != nil {
		kvs = append(kvs, KV{KeyScores, v.Scores})
	}
	if v.Types != nil {
		kvs = append(kvs, KV{KeyTokenType, v.Types})
	}
	if v.Merges != nil {
		kvs = append(kvs, KV{KeyMerges, v.Merges})
	}
	for _, kind := range ordered(v.idOrder, idKinds) {
		if id := *v.idField(kind); id >= 0 && id <= math.MaxUint32 {
			kvs = append(kvs, KV{idKeys[kind], uint32(id)})
		}
	}
	for _, kind := range ordered(v.addOrder, addKinds) {
		if b := *v.addField(kind); b != nil {
			kvs = append(kvs, KV{addKeys[kind], *b})
		}
	}
	if len(v.ChatTemplates) > 0 {
		names := make([]string, 0, len(v.ChatTemplates))
		for _, t := range v.ChatTemplates {
			kvs = append(kvs, KV{ChatTemplateKey(t.Name), t.Template})
			names = append(names, t.Name)
		}
		kvs = append(kvs, KV{KeyChatTemplates, names})
	}
	if v.ChatTemplate != "" {
		kvs = append(kvs, KV{KeyChatTemplate, v.ChatTemplate})
	}
	if v.NormalizerLowercase {
		kvs = append(kvs, KV{KeyLowercase, true})
	}
	if v.AddSpacePrefix != nil {
		kvs = append(kvs, KV{KeyAddSpace, *v.AddSpacePrefix})
	}
	return kvs
}

// FromGGUFMetadata rebuilds a Vocab from GGUF metadata. get returns a key's
// value as a plain Go value (string, bool, any integer type, or a slice:
// []string, []float32/[]float64, or a slice of any integer type) and false
// when the key is absent. The "llama" (SentencePiece) and "gpt2" (byte-level
// BPE, with tokenizer.ggml.merges) tokenizer models are supported.
func FromGGUFMetadata(get func(key string) (any, bool)) (*Vocab, error) {
	bad := func(key, format string, args ...any) error {
		return &FormatError{File: "GGUF metadata", Offset: -1, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	v := newVocab()
	v.Source = "gguf"
	raw, ok := get(KeyModel)
	if !ok {
		return nil, bad(KeyModel, "missing")
	}
	model, ok := raw.(string)
	if !ok {
		return nil, bad(KeyModel, "value of type %T, want string", raw)
	}
	if model != "llama" && model != "gpt2" {
		return nil, fmt.Errorf("tokenizer: %w: GGUF tokenizer model %q (only \"llama\" and \"gpt2\" are supported)", ErrUnsupported, model)
	}
	v.Model = model
	v.Pre = ""
	if raw, ok := get(KeyPre); ok {
		if v.Pre, ok = raw.(string); !ok {
			return nil, bad(KeyPre, "value of type %T, want string", raw)
		}
	}
	raw, ok = get(KeyTokens)
	if !ok {
		return nil, bad(KeyTokens, "missing")
	}
	if v.Tokens, ok = raw.([]string); !ok {
		return nil, bad(KeyTokens, "value of type %T, want []string", raw)
	}
	n := len(v.Tokens)
	if raw, ok := get(KeyScores); ok {
		s, err := floatSlice(raw)
		if err != nil {
			return nil, bad(KeyScores, "%v", err)
		}
		if len(s) != n {
			return nil, bad(KeyScores, "%d scores for %d tokens", len(s), n)
		}
		v.Scores = s
	}
	if raw, ok := get(KeyTokenType); ok {
		t, err := int32Slice(raw)
		if err != nil {
			return nil, bad(KeyTokenType, "%v", err)
		}
		if len(t) != n {
			return nil, bad(KeyTokenType, "%d token types for %d tokens", len(t), n)
		}
		v.Types = t
	}
	if model == "gpt2" {
		raw, ok := get(KeyMerges)
		if !ok {
			return nil, bad(KeyMerges, "missing for a byte-level BPE vocabulary")
		}
		if v.Merges, ok = raw.([]string); !ok {
			return nil, bad(KeyMerges, "value of type %T, want []string", raw)
		}
		v.mergeRank = make(map[[2]string]int, len(v.Merges))
		for i, m := range v.Merges {
			l, r, ok := strings.Cut(m, " ")
			if !ok || strings.Contains(r, " ") {
				return nil, bad(KeyMerges, "merge %d %q is not two space-separated pieces", i, m)
			}
			if _, dup := v.mergeRank[[2]string{l, r}]; !dup {
				v.mergeRank[[2]string{l, r}] = i
			}
		}
	}
	for _, kind := range idKinds {
		raw, ok := get(idKeys[kind])
		if !ok {
			continue
		}
		id, ok := integer(raw)
		if !ok || id < 0 || id >= int64(n) {
			return nil, bad(idKeys[kind], "%v is not a token id below %d", raw, n)
		}
		*v.idField(kind) = int(id)
	}
	for _, kind := range addKinds {
		if b, err := optBool(get, addKeys[kind]); err != nil {
			return nil, err
		} else if b != nil {
			*v.addField(kind) = b
		}
	}
	b, err := optBool(get, KeyAddSpace)
	if err != nil {
		return nil, err
	}
	v.AddSpacePrefix = b
	if b, err := optBool(get, KeyLowercase); err != nil {
		return nil, err
	} else if b != nil {
		v.NormalizerLowercase = *b
	}
	if raw, ok := get(KeyChatTemplate); ok {
		if v.ChatTemplate, ok = raw.(string); !ok {
			return nil, bad(KeyChatTemplate, "value of type %T, want string", raw)
		}
	}
	if raw, ok := get(KeyChatTemplates); ok {
		names, ok := raw.([]string)
		if !ok {
			return nil, bad(KeyChatTemplates, "value of type %T, want []string", raw)
		}
		for _, name := range names {
			raw, ok := get(ChatTemplateKey(name))
			if !ok {
				return nil, bad(ChatTemplateKey(name), "named in %s but missing", KeyChatTemplates)
			}
			t, ok := raw.(string)
			if !ok {
				return nil, bad(ChatTemplateKey(name), "value of type %T, want string", raw)
			}
			v.ChatTemplates = append(v.ChatTemplates, NamedTemplate{Name: name, Template: t})
		}
	}
	return v, nil
}

func optBool(get func(string) (any, bool), key string) (*bool, error) {
	raw, ok := get(key)
	if !ok {
		return nil, nil
	}
	b, ok := raw.(bool)
	if !ok {
		return nil, &FormatError{File: "GGUF metadata", Offset: -1, Key: key, Msg: fmt.Sprintf("value of type %T, want bool", raw)}
	}
	return &b, nil
}

// integer converts any Go integer value to int64.
func integer(x any) (int64, bool) {
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return 0, false
		}
		return int64(u), true
	}
	return 0, false
}

func floatSlice(x any) ([]float32, error) {
	switch s := x.(type) {
	case []float32:
		return s, nil
	case []float64:
		out := make([]float32, len(s))
		for i, f := range s {
			out[i] = float32(f)
		}
		return out, nil
	}
	return nil, fmt.Errorf("value of type %T, want []float32", x)
}

func int32Slice(x any) ([]int32, error) {
	if s, ok := x.([]int32); ok {
		return s, nil
	}
	rv := reflect.ValueOf(x)
	if rv.Kind() != reflect.Slice {
		return nil, fmt.Errorf("value of type %T, want []int32", x)
	}
	out := make([]int32, rv.Len())
	for i := range out {
		n, ok := integer(rv.Index(i).Interface())
		if !ok || n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fmt.Errorf("element %d (%v) is not an int32", i, rv.Index(i).Interface())
		}
		out[i] = int32(n)
	}
	return out, nil
}
