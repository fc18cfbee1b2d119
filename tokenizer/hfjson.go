package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// hfAddedToken is one entry of tokenizer.json "added_tokens".
type hfAddedToken struct {
	ID      int64  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

// hfTokenizer is the part of a Hugging Face tokenizer.json this package uses.
type hfTokenizer struct {
	AddedTokens []hfAddedToken `json:"-"`
	// AddedTokensJSON is decoded into AddedTokens once its size is checked.
	AddedTokensJSON json.RawMessage `json:"added_tokens"`
	Normalizer      json.RawMessage `json:"normalizer"`
	PreTokenizer    json.RawMessage `json:"pre_tokenizer"`
	PostProcessor   json.RawMessage `json:"post_processor"`
	Decoder         json.RawMessage `json:"decoder"`
	Model           struct {
		Type         string           `json:"type"`
		Vocab        map[string]int64 `json:"vocab"`
		Merges       json.RawMessage  `json:"merges"`
		ByteFallback bool             `json:"byte_fallback"`
		IgnoreMerges bool             `json:"ignore_merges"`
	} `json:"model"`

	path string
	// postProcessor and normalizer decoded generically for SpecialVocab.
	postProcessor jsonObject
	normalizer    jsonObject
	decoderType   string
}

// readHFTokenizer reads dir/tokenizer.json; (nil, nil) if absent.
func readHFTokenizer(dir string) (*hfTokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	data, err := readSmallFile(path, safeio.TokenizerLimit)
	if err != nil || data == nil {
		return nil, err
	}
	if err := checkJSONValues(path, data, maxTokenizerValues); err != nil {
		return nil, err
	}
	return parseHFTokenizer(data, path)
}

func parseHFTokenizer(data []byte, path string) (*hfTokenizer, error) {
	t := &hfTokenizer{path: path}
	if err := json.Unmarshal(data, t); err != nil {
		return nil, jsonError(path, data, err)
	}
	// Decoded, each added token costs tens of bytes for its few bytes of
	// text ("{}," is three), so the list is held to the generic bound.
	if raw := t.AddedTokensJSON; len(raw) > 0 && string(raw) != "null" {
		if err := checkJSONValues(path, raw, maxGenericValues); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &t.AddedTokens); err != nil {
			return nil, &FormatError{File: path, Offset: -1, Key: "added_tokens", Msg: err.Error()}
		}
		t.AddedTokensJSON = nil
	}
	var err error
	if t.postProcessor, err = rawObject(t.PostProcessor, path, "post_processor"); err != nil {
		return nil, err
	}
	if t.normalizer, err = rawObject(t.Normalizer, path, "normalizer"); err != nil {
		return nil, err
	}
	dec, err := rawObject(t.Decoder, path, "decoder")
	if err != nil {
		return nil, err
	}
	t.decoderType, _ = dec.str("type")
	return t, nil
}

// rawObject decodes an optional JSON object member (null or absent → nil).
func rawObject(raw json.RawMessage, path, key string) (jsonObject, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if err := checkJSONValues(path, raw, maxGenericValues); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &FormatError{File: path, Offset: -1, Key: key, Msg: err.Error()}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &FormatError{File: path, Offset: -1, Key: key, Msg: "not a JSON object"}
	}
	return m, nil
}

// merges decodes model.merges in either form tokenizers writes: "a b"
// strings (before 0.20) or ["a", "b"] pairs.
func (t *hfTokenizer) merges() ([][2]string, error) {
	raw := t.Model.Merges
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &FormatError{File: t.path, Offset: -1, Key: "model.merges", Msg: "not a JSON array"}
	}
	out := make([][2]string, 0, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			l, r, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(r, " ") {
				return nil, &FormatError{File: t.path, Offset: -1, Key: fmt.Sprintf("model.merges[%d]", i), Msg: fmt.Sprintf("%q is not two space-separated pieces", s)}
			}
			out = append(out, [2]string{l, r})
			continue
		}
		var pair []string
		if err := json.Unmarshal(it, &pair); err != nil || len(pair) != 2 {
			return nil, &FormatError{File: t.path, Offset: -1, Key: fmt.Sprintf("model.merges[%d]", i), Msg: "neither a string nor a pair of strings"}
		}
		out = append(out, [2]string{pair[0], pair[1]})
	}
	return out, nil
}

var byteTokenRE = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// hfSpecialTokens lists the strings transformers reports as
// all_special_tokens: the named special tokens of tokenizer_config.json
// (falling back to special_tokens_map.json) and the additional/extra lists.
func hfSpecialTokens(tc, stm jsonObject) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, kind := range specialTypes {
		key := kind + "_token"
		s := tokenContent(tc[key])
		if _, present := tc[key]; !present {
			s = tokenContent(stm[key])
		}
		add(s)
	}
	for _, key := range []string{"additional_special_tokens", "extra_special_tokens"} {
		list, ok := tc[key].([]any)
		if !ok {
			list, _ = stm[key].([]any)
		}
		for _, it := range list {
			add(tokenContent(it))
		}
	}
	return out
}

// vocabFromHF builds tokens, scores and types as gguf-py's LlamaHfVocab does
// for a SentencePiece-style BPE tokenizer.json (byte_fallback, Sequence
// decoder): every score -1000, <0xNN> tokens BYTE, special tokens CONTROL,
// other added tokens USER_DEFINED, the rest NORMAL.
func vocabFromHF(t *hfTokenizer, tc, stm jsonObject) (*Vocab, error) {
	m := &t.Model
	if m.Type == "BPE" && m.IgnoreMerges && !m.ByteFallback {
		return nil, unsupported(t.path, "byte-level BPE (Llama 3 style) tokenizer; only SentencePiece-style vocabularies are converted")
	}
	if m.Type == "BPE" && !m.ByteFallback && t.decoderType == "ByteLevel" {
		return vocabFromByteLevel(t, tc, stm)
	}
	if m.Type != "BPE" || !m.ByteFallback || t.decoderType != "Sequence" {
		return nil, unsupported(t.path, "model type %q (byte_fallback %v, decoder %q); want a SentencePiece-style BPE with byte fallback", m.Type, m.ByteFallback, t.decoderType)
	}
	base := len(m.Vocab)
	tokens := make([]string, base)
	filled := make([]bool, base)
	for s, id := range m.Vocab {
		if id < 0 || id >= int64(base) {
			return nil, &FormatError{File: t.path, Offset: -1, Key: "model.vocab", Msg: fmt.Sprintf("token %q has id %d outside 0..%d", s, id, base-1)}
		}
		if filled[id] {
			return nil, &FormatError{File: t.path, Offset: -1, Key: "model.vocab", Msg: fmt.Sprintf("id %d is used twice (%q and %q)", id, tokens[id], s)}
		}
		tokens[id], filled[id] = s, true
	}
	// Added tokens past the model vocabulary are appended in id order; they
	// must continue the id sequence or every later id would shift.
	extra := map[int64]string{}
	var maxID int64 = -1
	for i, a := range t.AddedTokens {
		if a.ID < 0 {
			return nil, &FormatError{File: t.path, Offset: -1, Key: fmt.Sprintf("added_tokens[%d]", i), Msg: fmt.Sprintf("negative id %d", a.ID)}
		}
		if a.ID >= int64(base) {
			if _, dup := extra[a.ID]; dup {
				return nil, &FormatError{File: t.path, Offset: -1, Key: fmt.Sprintf("added_tokens[%d]", i), Msg: fmt.Sprintf("id %d is used twice", a.ID)}
			}
			extra[a.ID] = a.Content
			maxID = max(maxID, a.ID)
		}
	}
	if len(extra) > 0 && maxID != int64(base+len(extra)-1) {
		return nil, &FormatError{File: t.path, Offset: -1, Key: "added_tokens", Msg: fmt.Sprintf("added token ids beyond the %d-token vocabulary are not contiguous", base)}
	}
	// text → id over the model vocabulary and added tokens, as get_vocab().
	lookup := make(map[string]int, base+len(t.AddedTokens))
	for id, s := range tokens {
		lookup[s] = id
	}
	for _, a := range t.AddedTokens {
		lookup[a.Content] = int(a.ID)
	}
	special := map[int]bool{}
	specialText := map[string]bool{}
	for _, s := range hfSpecialTokens(tc, stm) {
		if id, ok := lookup[s]; ok {
			special[id] = true
			specialText[s] = true
		}
	}
	v := newVocab()
	v.Source = "tokenizer.json"
	n := base + len(extra)
	v.Tokens = make([]string, 0, n)
	v.Scores = make([]float32, 0, n)
	v.Types = make([]int32, 0, n)
	for id, s := range tokens {
		typ := TypeNormal
		if byteTokenRE.MatchString(s) {
			typ = TypeByte
		} else if special[id] {
			typ = TypeControl
		}
		v.Tokens = append(v.Tokens, s)
		v.Scores = append(v.Scores, -1000)
		v.Types = append(v.Types, int32(typ))
	}
	for id := int64(base); id < int64(n); id++ {
		s := extra[id]
		typ := TypeUserDefined
		if specialText[s] {
			typ = TypeControl
		}
		v.Tokens = append(v.Tokens, s)
		v.Scores = append(v.Scores, -1000)
		v.Types = append(v.Types, int32(typ))
	}
	merges, err := t.merges()
	if err != nil {
		return nil, err
	}
	v.mergeRank = make(map[[2]string]int, len(merges))
	for i, p := range merges {
		if _, dup := v.mergeRank[p]; !dup {
			v.mergeRank[p] = i
		}
	}
	return v, nil
}
