package tokenizer

import (
	"sort"
	"sync"
)

// Vocab is a tokenizer vocabulary in the form GGUF stores it for llama.cpp's
// "llama" (SentencePiece) tokenizer: parallel token, score and type arrays,
// special token ids and flags. Build one with Load (from a Hugging Face
// checkpoint folder) or FromGGUFMetadata.
//
// A Vocab is not modified by its methods; Encode may be called from several
// goroutines at once. Do not change Tokens, Types or Scores after the first
// Encode: Encode caches an index of them.
type Vocab struct {
	Model  string // tokenizer.ggml.model: "llama", or "gpt2" for byte-level BPE
	Pre    string // tokenizer.ggml.pre: "default", "qwen2", ...; "" = key absent
	Tokens []string
	Scores []float32
	Types  []int32 // PieceType values
	// Merges are a byte-level BPE's merges as "left right", by rank
	// (tokenizer.ggml.merges); nil for SentencePiece vocabularies.
	Merges []string

	// Special token ids; -1 = absent.
	BOS, EOS, UNK, SEP, PAD, MASK, EOT, EOM int

	// Flags; nil = absent (llama.cpp then uses its own defaults).
	AddBOS, AddEOS, AddSEP *bool
	AddSpacePrefix         *bool

	ChatTemplate        string          // default template; "" = none
	ChatTemplates       []NamedTemplate // further named templates, in file order
	NormalizerLowercase bool            // tokenizer.json normalizer lowercases input

	// Source says what the vocabulary was built from: "tokenizer.model",
	// "tokenizer.json" or "gguf".
	Source string
	// Normalizer is the SentencePiece normalizer spec when the vocabulary came
	// from tokenizer.model (nil otherwise). It is not written to GGUF.
	Normalizer *NormalizerSpec

	// Key order as llama.cpp's SpecialVocab emits them (type names such as
	// "bos"); empty means the canonical order.
	idOrder, addOrder []string
	// mergeRank holds tokenizer.json BPE merge ranks ("left right" pair →
	// rank) so Encode can apply the Hugging Face merge order.
	mergeRank map[[2]string]int

	once        sync.Once
	index       map[string]int32
	userDefined []string // USER_DEFINED token texts, longest first
}

// NamedTemplate is a named chat template (tokenizer.chat_template.NAME).
type NamedTemplate struct {
	Name     string
	Template string
}

// NumTokens is len(v.Tokens).
func (v *Vocab) NumTokens() int { return len(v.Tokens) }

// TokenID returns the id of token text s.
func (v *Vocab) TokenID(s string) (int, bool) {
	v.buildIndex()
	id, ok := v.index[s]
	return int(id), ok
}

func (v *Vocab) buildIndex() {
	v.once.Do(func() {
		v.index = make(map[string]int32, len(v.Tokens))
		for i := len(v.Tokens) - 1; i >= 0; i-- { // lowest id wins on duplicates
			v.index[v.Tokens[i]] = int32(i)
			if v.tokenType(i) == TypeUserDefined && v.Tokens[i] != "" {
				v.userDefined = append(v.userDefined, v.Tokens[i])
			}
		}
		sort.SliceStable(v.userDefined, func(a, b int) bool { return len(v.userDefined[a]) > len(v.userDefined[b]) })
	})
}

func (v *Vocab) tokenType(id int) PieceType {
	if id < 0 || id >= len(v.Types) {
		return TypeNormal
	}
	return PieceType(v.Types[id])
}

func newVocab() *Vocab {
	return &Vocab{Model: "llama", Pre: "default", BOS: -1, EOS: -1, UNK: -1, SEP: -1, PAD: -1, MASK: -1, EOT: -1, EOM: -1}
}

// specialTypes are SpecialVocab's default token kinds, in its order.
var specialTypes = []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}

// idField returns the Vocab field for a special token kind, nil for kinds
// GGUF has no key for (cls: gguf-py's writer has no add_cls_token_id).
func (v *Vocab) idField(kind string) *int {
	switch kind {
	case "bos":
		return &v.BOS
	case "eos":
		return &v.EOS
	case "unk":
		return &v.UNK
	case "sep":
		return &v.SEP
	case "pad":
		return &v.PAD
	case "mask":
		return &v.MASK
	case "eot":
		return &v.EOT
	case "eom":
		return &v.EOM
	}
	return nil
}

func (v *Vocab) addField(kind string) **bool {
	switch kind {
	case "bos":
		return &v.AddBOS
	case "eos":
		return &v.AddEOS
	case "sep":
		return &v.AddSEP
	}
	return nil
}

func boolPtr(b bool) *bool { return &b }
