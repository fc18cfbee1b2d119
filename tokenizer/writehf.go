package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// orderedJSON is a JSON object that keeps its key order when marshalled.
type orderedJSON []member

type member struct {
	key   string
	value any
}

func (o orderedJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalNoEscape(m.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		val, err := marshalNoEscape(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalNoEscape marshals without HTML escaping, so "<s>" stays readable as
// in the files transformers writes.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func (f hfFiles) putJSON(name string, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("tokenizer: encode %s: %w", name, err)
	}
	f[name] = b.Bytes()
	return nil
}

// hfFiles are file contents by name.
type hfFiles map[string][]byte

// tokenName returns the text of token id, or "" if out of range.
func (v *Vocab) tokenName(id int) string {
	if id < 0 || id >= len(v.Tokens) {
		return ""
	}
	return v.Tokens[id]
}

// flag returns *b, or def when b is nil.
func flag(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// WriteHF writes the vocabulary as Hugging Face tokenizer files in dir:
// tokenizer.model (a SentencePiece BPE model with byte fallback),
// tokenizer.json (the BPE form transformers' LlamaConverter produces, with
// merges rebuilt from the scores), tokenizer_config.json and
// special_tokens_map.json. It supports "llama" (SentencePiece) vocabularies
// whose tokens are unique and non-empty, and "gpt2" byte-level ones with a
// known pre-tokenizer (hfByteLevelFiles).
//
// Scores carry the merge order; a vocabulary whose scores were lost (all
// equal, as after llama.cpp's tokenizer.json-only conversion) still loads
// but will not tokenize as the original did.
func (v *Vocab) WriteHF(dir string) error {
	files, err := v.HFFiles()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o666); err != nil {
			return err
		}
	}
	return nil
}

// HFFiles returns the files WriteHF writes, by name, for a caller that
// stores them itself.
func (v *Vocab) HFFiles() (map[string][]byte, error) {
	if v.Model != "llama" && v.Model != "gpt2" {
		return nil, fmt.Errorf("tokenizer: %w: WriteHF needs a \"llama\" vocabulary, not %q", ErrUnsupported, v.Model)
	}
	if len(v.Tokens) == 0 {
		return nil, fmt.Errorf("tokenizer: WriteHF: empty vocabulary")
	}
	if (v.Scores != nil && len(v.Scores) != len(v.Tokens)) || (v.Types != nil && len(v.Types) != len(v.Tokens)) {
		return nil, fmt.Errorf("tokenizer: WriteHF: %d tokens, %d scores, %d types", len(v.Tokens), len(v.Scores), len(v.Types))
	}
	seen := make(map[string]int, len(v.Tokens))
	for id, s := range v.Tokens {
		if s == "" {
			return nil, fmt.Errorf("tokenizer: WriteHF: token %d is empty", id)
		}
		if j, dup := seen[s]; dup {
			return nil, fmt.Errorf("tokenizer: WriteHF: token %d %q duplicates token %d", id, s, j)
		}
		seen[s] = id
	}
	if _, ok := byteLevelSpecs[v.Pre]; v.Model == "gpt2" && !ok {
		return nil, fmt.Errorf("tokenizer: %w: WriteHF of a byte-level vocabulary with pre-tokenizer %q", ErrUnsupported, v.Pre)
	}
	files := hfFiles{}
	if v.Model == "gpt2" {
		if err := v.hfByteLevelFiles(files); err != nil {
			return nil, err
		}
		return files, nil
	}
	files["tokenizer.model"] = v.SentencePieceModel().Marshal()
	if err := files.putJSON("tokenizer.json", v.hfTokenizerJSON()); err != nil {
		return nil, err
	}
	if err := files.putJSON("tokenizer_config.json", v.hfTokenizerConfig()); err != nil {
		return nil, err
	}
	if err := files.putJSON("special_tokens_map.json", v.hfSpecialTokensMap()); err != nil {
		return nil, err
	}
	return files, nil
}

// unkID is the id to mark UNKNOWN: v.UNK, else a token typed UNKNOWN, else
// "<unk>", else -1.
func (v *Vocab) unkID() int {
	if v.UNK >= 0 && v.UNK < len(v.Tokens) {
		return v.UNK
	}
	for id := range v.Tokens {
		if v.tokenType(id) == TypeUnknown {
			return id
		}
	}
	if id, ok := v.TokenID("<unk>"); ok {
		return id
	}
	return -1
}

func (v *Vocab) hasByteTokens() bool {
	for b := 0; b < 256; b++ {
		id, ok := v.TokenID(BytePiece(byte(b)))
		if !ok || v.tokenType(id) != TypeByte {
			return false
		}
	}
	return true
}

// SentencePieceModel returns the vocabulary as a SentencePiece BPE model.
// Token types map back one to one, except that exactly the unknown token is
// UNKNOWN (sentencepiece requires one; llama.cpp's converter may have typed
// it CONTROL) and undefined types become NORMAL.
func (v *Vocab) SentencePieceModel() *Model {
	unk := v.unkID()
	m := &Model{Pieces: make([]Piece, len(v.Tokens))}
	for id, s := range v.Tokens {
		typ := v.tokenType(id)
		switch {
		case id == unk:
			typ = TypeUnknown
		case typ == TypeUnknown:
			typ = TypeControl
		case typ < TypeNormal || typ > TypeByte:
			typ = TypeNormal
		}
		var score float32
		if id < len(v.Scores) {
			score = v.Scores[id]
		}
		m.Pieces[id] = Piece{Piece: s, Score: score, Type: typ}
	}
	bos, eos := v.BOSToken(), v.EOS
	if eos < 0 && v.Model == "llama" && len(v.Tokens) > 2 {
		eos = 2 // llama.cpp's default for SentencePiece vocabularies
	}
	name := func(id int, def string) string {
		if s := v.tokenName(id); s != "" {
			return s
		}
		return def
	}
	m.Trainer = TrainerSpec{
		ModelType: ModelBPE, VocabSize: int32(len(v.Tokens)), ByteFallback: v.hasByteTokens(),
		UnkID: int32(unk), BOSID: int32(bos), EOSID: int32(eos), PadID: int32(v.PAD),
		UnkPiece: name(unk, "<unk>"), BOSPiece: name(bos, "<s>"), EOSPiece: name(eos, "</s>"), PadPiece: name(v.PAD, "<pad>"),
	}
	m.Normalizer = NormalizerSpec{Name: "identity", AddDummyPrefix: v.prefixSpace(), EscapeWhitespaces: true}
	return m
}

// mergeable reports whether a token takes part in rebuilt BPE merges: only
// ordinary pieces do (special, byte and padding tokens never result from or
// feed a merge in SentencePiece BPE).
func (v *Vocab) mergeable(id int) bool {
	switch v.tokenType(id) {
	case TypeNormal, TypeUserDefined:
		return true
	}
	return false
}

// addedToken reports whether token id is listed among the added tokens of
// tokenizer.json and tokenizer_config.json, and the type that decides its
// "special" flag: control and unknown tokens, user-defined tokens, and every
// token named by a special id (a pad token, say, that the vocabulary typed
// UNUSED), which transformers needs to find there.
func (v *Vocab) addedToken(id int) (PieceType, bool) {
	typ := v.tokenType(id)
	switch typ {
	case TypeControl, TypeUnknown, TypeUserDefined:
		return typ, true
	}
	for _, s := range []int{v.BOSToken(), v.EOS, v.unkID(), v.SEP, v.PAD, v.MASK, v.EOT, v.EOM} {
		if s == id {
			return TypeControl, true
		}
	}
	return typ, false
}

func (v *Vocab) hfTokenizerJSON() orderedJSON {
	unk := v.unkID()
	var added []any
	for id, s := range v.Tokens {
		typ, ok := v.addedToken(id)
		if !ok {
			continue
		}
		added = append(added, orderedJSON{
			{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false},
			{"rstrip", false}, {"normalized", false}, {"special", typ != TypeUserDefined},
		})
	}
	prefix := v.prefixSpace()
	var normalizer any = orderedJSON{{"type", "Replace"}, {"pattern", orderedJSON{{"String", " "}}}, {"content", "▁"}}
	decoders := []any{
		orderedJSON{{"type", "Replace"}, {"pattern", orderedJSON{{"String", "▁"}}}, {"content", " "}},
		orderedJSON{{"type", "ByteFallback"}},
		orderedJSON{{"type", "Fuse"}},
	}
	if prefix {
		normalizer = orderedJSON{{"type", "Sequence"}, {"normalizers", []any{
			orderedJSON{{"type", "Prepend"}, {"prepend", "▁"}}, normalizer,
		}}}
		decoders = append(decoders, orderedJSON{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}})
	}
	scores := v.Scores
	if scores == nil {
		scores = make([]float32, len(v.Tokens))
	}
	merges := spmMerges(v.Tokens, scores, v.mergeable)
	spaced := false
	for _, m := range merges {
		spaced = spaced || strings.Contains(m[0], " ") || strings.Contains(m[1], " ")
	}
	var mergeList any
	if spaced { // the pair form (tokenizers >= 0.20) is needed for pieces with spaces
		mergeList = merges
	} else {
		list := make([]string, len(merges))
		for i, m := range merges {
			list[i] = m[0] + " " + m[1]
		}
		mergeList = list
	}
	vocab := make(orderedJSON, len(v.Tokens))
	for id, s := range v.Tokens {
		vocab[id] = member{s, id}
	}
	var unkToken any
	if unk >= 0 {
		unkToken = v.Tokens[unk]
	}
	return orderedJSON{
		{"version", "1.0"},
		{"truncation", nil},
		{"padding", nil},
		{"added_tokens", added},
		{"normalizer", normalizer},
		{"pre_tokenizer", nil},
		{"post_processor", v.hfPostProcessor()},
		{"decoder", orderedJSON{{"type", "Sequence"}, {"decoders", decoders}}},
		{"model", orderedJSON{
			{"type", "BPE"}, {"dropout", nil}, {"unk_token", unkToken},
			{"continuing_subword_prefix", nil}, {"end_of_word_suffix", nil},
			{"fuse_unk", true}, {"byte_fallback", true},
			{"vocab", vocab}, {"merges", mergeList},
		}},
	}
}

// hfPostProcessor is the TemplateProcessing LlamaTokenizerFast builds from
// add_bos_token / add_eos_token.
func (v *Vocab) hfPostProcessor() any {
	bos, eos := v.tokenName(v.BOSToken()), v.tokenName(v.EOS)
	addBOS := flag(v.AddBOS, true) && bos != ""
	addEOS := flag(v.AddEOS, false) && eos != ""
	special := func(tok string, typeID int) any {
		return orderedJSON{{"SpecialToken", orderedJSON{{"id", tok}, {"type_id", typeID}}}}
	}
	seq := func(id string, typeID int) any {
		return orderedJSON{{"Sequence", orderedJSON{{"id", id}, {"type_id", typeID}}}}
	}
	var single, pair []any
	tokens := orderedJSON{}
	if addBOS {
		single = append(single, special(bos, 0))
		tokens = append(tokens, member{bos, orderedJSON{{"id", bos}, {"ids", []int{v.BOSToken()}}, {"tokens", []string{bos}}}})
	}
	single = append(single, seq("A", 0))
	if addEOS {
		single = append(single, special(eos, 0))
		if eos != bos || !addBOS {
			tokens = append(tokens, member{eos, orderedJSON{{"id", eos}, {"ids", []int{v.EOS}}, {"tokens", []string{eos}}}})
		}
	}
	pair = append(pair, single...)
	if addBOS {
		pair = append(pair, special(bos, 1))
	}
	pair = append(pair, seq("B", 1))
	if addEOS {
		pair = append(pair, special(eos, 1))
	}
	return orderedJSON{{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", tokens}}
}

// bigModelMaxLength is transformers' "no limit" model_max_length
// (int(1e30)), written as the integer literal transformers writes.
const bigModelMaxLength = json.Number("1000000000000000019884624838656")

func (v *Vocab) hfTokenizerConfig() orderedJSON {
	unk := v.unkID()
	decoder := orderedJSON{}
	for id, s := range v.Tokens {
		typ, ok := v.addedToken(id)
		if !ok {
			continue
		}
		decoder = append(decoder, member{fmt.Sprint(id), orderedJSON{
			{"content", s}, {"lstrip", false}, {"normalized", false}, {"rstrip", false},
			{"single_word", false}, {"special", typ != TypeUserDefined},
		}})
	}
	opt := func(id int) any {
		if s := v.tokenName(id); s != "" {
			return s
		}
		return nil
	}
	cfg := orderedJSON{
		{"add_bos_token", flag(v.AddBOS, true)},
		{"add_eos_token", flag(v.AddEOS, false)},
	}
	if v.AddSpacePrefix != nil {
		cfg = append(cfg, member{"add_prefix_space", *v.AddSpacePrefix})
	}
	cfg = append(cfg,
		member{"added_tokens_decoder", decoder},
		member{"additional_special_tokens", []string{}},
		member{"bos_token", opt(v.BOSToken())},
	)
	if len(v.ChatTemplates) > 0 {
		list := []any{}
		if v.ChatTemplate != "" {
			list = append(list, orderedJSON{{"name", "default"}, {"template", v.ChatTemplate}})
		}
		for _, t := range v.ChatTemplates {
			list = append(list, orderedJSON{{"name", t.Name}, {"template", t.Template}})
		}
		cfg = append(cfg, member{"chat_template", list})
	} else if v.ChatTemplate != "" {
		cfg = append(cfg, member{"chat_template", v.ChatTemplate})
	}
	cfg = append(cfg,
		member{"clean_up_tokenization_spaces", false},
		member{"eos_token", opt(v.EOS)},
		member{"legacy", true},
		member{"model_max_length", bigModelMaxLength},
		member{"pad_token", opt(v.PAD)},
		member{"sp_model_kwargs", orderedJSON{}},
		member{"spaces_between_special_tokens", false},
		member{"tokenizer_class", "LlamaTokenizer"},
		member{"unk_token", opt(unk)},
		member{"use_default_system_prompt", false},
	)
	return cfg
}

func (v *Vocab) hfSpecialTokensMap() orderedJSON {
	m := orderedJSON{}
	for _, s := range []struct {
		key string
		id  int
	}{{"bos_token", v.BOSToken()}, {"eos_token", v.EOS}, {"unk_token", v.unkID()}, {"pad_token", v.PAD}} {
		if name := v.tokenName(s.id); name != "" {
			m = append(m, member{s.key, name})
		}
	}
	return m
}
