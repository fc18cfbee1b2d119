package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// byteLevelPre maps the Split regex of a byte-level tokenizer.json
// pre_tokenizer to llama.cpp's pre-tokenizer name (tokenizer.ggml.pre).
// convert_hf_to_gguf.py recognises these tokenizers by hashing a
// tokenization; the regex identifies them as well.
var byteLevelPre = map[string]string{qwen2Regex: "qwen2"}

// qwen2Regex is the Split pattern of Qwen2 and Qwen3 tokenizers.
const qwen2Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// maxByteLevelTokens bounds the token list an added token's id can ask
// for, far above any real vocabulary (Qwen3: 151,669).
const maxByteLevelTokens = 1 << 20

// splitRegex returns the pattern of the pre_tokenizer's Split step.
func (t *hfTokenizer) splitRegex() (string, error) {
	var pre struct {
		Type          string            `json:"type"`
		Pretokenizers []json.RawMessage `json:"pretokenizers"`
	}
	if err := json.Unmarshal(t.PreTokenizer, &pre); err != nil {
		return "", &FormatError{File: t.path, Offset: -1, Key: "pre_tokenizer", Msg: "not a JSON object"}
	}
	steps := pre.Pretokenizers
	if pre.Type != "Sequence" {
		steps = []json.RawMessage{t.PreTokenizer}
	}
	for _, raw := range steps {
		var step struct {
			Type    string `json:"type"`
			Pattern struct {
				Regex string `json:"Regex"`
			} `json:"pattern"`
		}
		if json.Unmarshal(raw, &step) == nil && step.Type == "Split" {
			return step.Pattern.Regex, nil
		}
	}
	return "", unsupported(t.path, "byte-level BPE without a Split pre-tokenizer")
}

// vocabFromByteLevel builds the GGUF "gpt2" vocabulary of a byte-level BPE
// tokenizer.json as convert_hf_to_gguf.py's _set_vocab_gpt2 does: tokens in
// id order, added tokens CONTROL when special or shaped like "<|...|>",
// USER_DEFINED otherwise, the rest NORMAL; no scores; the merges kept as
// "left right" strings.
func vocabFromByteLevel(t *hfTokenizer, tc, stm jsonObject) (*Vocab, error) {
	re, err := t.splitRegex()
	if err != nil {
		return nil, err
	}
	pre, ok := byteLevelPre[re]
	if !ok {
		return nil, unsupported(t.path, "byte-level BPE with the pre-tokenizer regex %q, which mxq does not know", re)
	}
	n := len(t.Model.Vocab)
	for _, a := range t.AddedTokens {
		n = max(n, int(a.ID)+1)
	}
	if n > maxByteLevelTokens {
		return nil, &FormatError{File: t.path, Offset: -1, Key: "model.vocab", Msg: fmt.Sprintf("%d tokens is implausibly many", n)}
	}
	v := newVocab()
	v.Source = "tokenizer.json"
	v.Model, v.Pre = "gpt2", pre
	v.Tokens = make([]string, n)
	v.Types = make([]int32, n)
	filled := make([]bool, n)
	for s, id := range t.Model.Vocab {
		if id < 0 || id >= int64(n) || filled[id] {
			return nil, &FormatError{File: t.path, Offset: -1, Key: "model.vocab", Msg: fmt.Sprintf("token %q has a bad or repeated id %d", s, id)}
		}
		v.Tokens[id], v.Types[id], filled[id] = s, int32(TypeNormal), true
	}
	for _, a := range t.AddedTokens {
		if a.ID < 0 {
			return nil, &FormatError{File: t.path, Offset: -1, Key: "added_tokens", Msg: fmt.Sprintf("negative id %d", a.ID)}
		}
		typ := TypeUserDefined
		if a.Special || looksSpecialGPT2(a.Content) {
			typ = TypeControl
		}
		v.Tokens[a.ID], v.Types[a.ID], filled[a.ID] = a.Content, int32(typ), true
	}
	for id, ok := range filled {
		if !ok {
			v.Tokens[id], v.Types[id] = "[PAD"+strconv.Itoa(id)+"]", int32(TypeUnused)
		}
	}
	merges, err := t.merges()
	if err != nil {
		return nil, err
	}
	v.Merges = make([]string, len(merges))
	v.mergeRank = make(map[[2]string]int, len(merges))
	for i, p := range merges {
		v.Merges[i] = p[0] + " " + p[1]
		if _, dup := v.mergeRank[p]; !dup {
			v.mergeRank[p] = i
		}
	}
	return v, nil
}

// looksSpecialGPT2 is convert_hf_to_gguf.py's does_token_look_special.
func looksSpecialGPT2(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>") ||
		strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>") ||
		strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">")
}

// padToUnscored appends UNUSED "[PAD{id}]" tokens up to size to a
// vocabulary without scores.
func (v *Vocab) padToUnscored(size int, path string) error {
	if size <= 0 {
		return nil
	}
	if len(v.Tokens) > size {
		return fmt.Errorf("tokenizer: %s: %d tokens exceed the model's vocabulary size %d", path, len(v.Tokens), size)
	}
	for i := len(v.Tokens); i < size; i++ {
		v.Tokens = append(v.Tokens, "[PAD"+strconv.Itoa(i)+"]")
		v.Types = append(v.Types, int32(TypeUnused))
	}
	return nil
}
