package tokenizer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Load builds the GGUF vocabulary of the Hugging Face checkpoint in dir the
// way llama.cpp's convert_hf_to_gguf.py does for Llama-family models:
// tokenizer.model through _set_vocab_sentencepiece when it exists, otherwise
// tokenizer.json through _set_vocab_llama_hf, then gguf-py's SpecialVocab
// (tokenizer.json, tokenizer_config.json, config.json) for special ids, add
// flags and the chat template, and tokenizer_config.json's add_prefix_space.
//
// vocabSize is the model's vocabulary size (config.json vocab_size, the row
// count of the embedding); the token list is padded to it with "[PAD{id}]"
// UNUSED tokens. A tokenizer with more tokens than vocabSize is an error.
// vocabSize <= 0 means "the tokenizer's own size".
func Load(dir string, vocabSize int) (*Vocab, error) {
	tc, err := readJSONObject(dir, "tokenizer_config.json")
	if err != nil {
		return nil, err
	}
	cfg, err := readJSONObject(dir, "config.json")
	if err != nil {
		return nil, err
	}
	tok, err := readHFTokenizer(dir)
	if err != nil {
		return nil, err
	}
	var v *Vocab
	modelPath := filepath.Join(dir, "tokenizer.model")
	switch _, statErr := os.Stat(modelPath); {
	case statErr == nil:
		m, err := OpenModel(modelPath)
		if err != nil {
			return nil, err
		}
		if v, err = vocabFromModel(m, modelPath, vocabSize); err != nil {
			return nil, err
		}
		if err := applyAddedTokensJSON(v, dir); err != nil {
			return nil, err
		}
		if err := applyAddedTokensDecoder(v, tc, filepath.Join(dir, "tokenizer_config.json")); err != nil {
			return nil, err
		}
	case !errors.Is(statErr, fs.ErrNotExist):
		return nil, statErr
	case tok != nil:
		stm, err := readJSONObject(dir, "special_tokens_map.json")
		if err != nil {
			return nil, err
		}
		if v, err = vocabFromHF(tok, tc, stm); err != nil {
			return nil, err
		}
		pad := func() error { return v.padTo(vocabSize, tok.path, -1000) }
		if v.Scores == nil {
			pad = func() error { return v.padToUnscored(vocabSize, tok.path) }
		}
		if err := pad(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tokenizer: %s: no tokenizer.model or tokenizer.json: %w", dir, fs.ErrNotExist)
	}

	sv, err := loadSpecialVocab(dir, tok, tc, cfg, len(v.Tokens))
	if err != nil {
		return nil, err
	}
	v.applySpecial(sv)
	if b, ok := tc.boolean("add_prefix_space"); ok {
		// convert_hf_to_gguf writes the raw value, so a JSON null becomes
		// false and turns off llama.cpp's dummy prefix; only real booleans
		// are taken here.
		v.AddSpacePrefix = boolPtr(b)
	}
	return v, nil
}

// vocabFromModel is _create_vocab_sentencepiece: every id starts as an
// UNUSED "[PAD{id}]" with score -10000, then the model's pieces fill their
// ids. sentencepiece's USER_DEFINED pieces stay NORMAL, as in llama.cpp.
func vocabFromModel(m *Model, path string, vocabSize int) (*Vocab, error) {
	n := len(m.Pieces)
	if vocabSize <= 0 {
		vocabSize = n
	}
	if n > vocabSize {
		return nil, fmt.Errorf("tokenizer: %s: %d pieces exceed the model's vocabulary size %d", path, n, vocabSize)
	}
	v := newVocab()
	v.Source = "tokenizer.model"
	nz := m.Normalizer
	v.Normalizer = &nz
	v.Tokens = make([]string, vocabSize)
	v.Scores = make([]float32, vocabSize)
	v.Types = make([]int32, vocabSize)
	for i := range v.Tokens {
		v.Tokens[i] = "[PAD" + strconv.Itoa(i) + "]"
		v.Scores[i] = -10000
		v.Types[i] = int32(TypeUnused)
	}
	for i, p := range m.Pieces {
		typ := TypeNormal
		switch p.Type {
		case TypeUnknown, TypeControl, TypeUnused, TypeByte:
			typ = p.Type
		}
		v.Tokens[i], v.Scores[i], v.Types[i] = p.Piece, p.Score, int32(typ)
	}
	return v, nil
}

// padTo appends UNUSED "[PAD{id}]" tokens up to size.
func (v *Vocab) padTo(size int, path string, score float32) error {
	if size <= 0 {
		return nil
	}
	if len(v.Tokens) > size {
		return fmt.Errorf("tokenizer: %s: %d tokens exceed the model's vocabulary size %d", path, len(v.Tokens), size)
	}
	for i := len(v.Tokens); i < size; i++ {
		v.Tokens = append(v.Tokens, "[PAD"+strconv.Itoa(i)+"]")
		v.Scores = append(v.Scores, score)
		v.Types = append(v.Types, int32(TypeUnused))
	}
	return nil
}

// applyAddedTokensJSON applies added_tokens.json ({"text": id}) as
// USER_DEFINED tokens with score -1000; ids beyond the vocabulary are
// ignored, as llama.cpp does.
func applyAddedTokensJSON(v *Vocab, dir string) error {
	obj, err := readJSONObject(dir, "added_tokens.json")
	if err != nil || obj == nil {
		return err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic when two texts claim one id
	for _, text := range keys {
		id, ok := jsonInt(obj[text])
		if !ok || id < 0 {
			return &FormatError{File: filepath.Join(dir, "added_tokens.json"), Offset: -1, Key: text, Msg: "id is not a non-negative integer"}
		}
		if id >= int64(len(v.Tokens)) {
			continue
		}
		v.Tokens[id], v.Scores[id], v.Types[id] = text, -1000, int32(TypeUserDefined)
	}
	return nil
}

// applyAddedTokensDecoder applies tokenizer_config.json added_tokens_decoder:
// special (or special-looking) tokens become CONTROL, others USER_DEFINED
// with "▁" turned back into spaces; all get score -1000 and their content.
func applyAddedTokensDecoder(v *Vocab, tc jsonObject, path string) error {
	dec := tc.object("added_tokens_decoder")
	ids := make([]int64, 0, len(dec))
	byID := map[int64]jsonObject{}
	for k, raw := range dec {
		id, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
		if err != nil || id < 0 {
			return &FormatError{File: path, Offset: -1, Key: "added_tokens_decoder." + k, Msg: "key is not a token id"}
		}
		entry, ok := raw.(map[string]any)
		if !ok {
			return &FormatError{File: path, Offset: -1, Key: "added_tokens_decoder." + k, Msg: "entry is not an object"}
		}
		if _, ok := entry["content"].(string); !ok {
			return &FormatError{File: path, Offset: -1, Key: "added_tokens_decoder." + k, Msg: "content is not a string"}
		}
		ids = append(ids, id)
		byID[id] = entry
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if id >= int64(len(v.Tokens)) {
			continue
		}
		entry := byID[id]
		content, _ := entry.str("content")
		special, _ := entry.boolean("special")
		if special || looksSpecial(content) {
			v.Types[id] = int32(TypeControl)
		} else {
			content = strings.ReplaceAll(content, "▁", " ")
			v.Types[id] = int32(TypeUserDefined)
		}
		v.Scores[id] = -1000
		v.Tokens[id] = content
	}
	return nil
}

// looksSpecial is convert_hf_to_gguf's does_token_look_special: added tokens
// some models forget to flag as special.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>")) ||
		(strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>")) ||
		(strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">"))
}

// applySpecial copies SpecialVocab results into v.
func (v *Vocab) applySpecial(sv *specialVocab) {
	for _, kind := range sv.idOrder {
		if f := v.idField(kind); f != nil {
			*f = sv.ids[kind]
			v.idOrder = append(v.idOrder, kind)
		}
	}
	for _, kind := range sv.addOrder {
		if f := v.addField(kind); f != nil {
			*f = boolPtr(sv.add[kind])
			v.addOrder = append(v.addOrder, kind)
		}
	}
	v.NormalizerLowercase = sv.lower
	switch t := sv.template.(type) {
	case string:
		v.ChatTemplate = t
	case []any:
		for _, it := range t {
			m, _ := it.(map[string]any)
			name, _ := m["name"].(string)
			tmpl, ok := m["template"].(string)
			name = sanitizeTemplateName(name)
			if name == "" || !ok {
				continue
			}
			if name == "default" {
				v.ChatTemplate = tmpl
				continue
			}
			v.ChatTemplates = append(v.ChatTemplates, NamedTemplate{Name: name, Template: tmpl})
		}
	}
}

// sanitizeTemplateName keeps ASCII letters and digits and turns every other
// character into '_', as gguf-py does for template key names.
func sanitizeTemplateName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
