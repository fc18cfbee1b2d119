package tokenizer

import (
	"fmt"
	"strings"
)

// byteLevelSpec is what a GGUF pre-tokenizer name implies about the
// tokenizer.json it came from.
type byteLevelSpec struct {
	regex      string
	normalizer string // tokenizer.json normalizer type; "" for none
	class      string // transformers tokenizer_class
}

var byteLevelSpecs = map[string]byteLevelSpec{
	"qwen2": {regex: qwen2Regex, normalizer: "NFC", class: "Qwen2Tokenizer"},
}

// hfByteLevelFiles puts in files the tokenizer.json, tokenizer_config.json and
// special_tokens_map.json of a "gpt2" vocabulary: the NORMAL tokens as the
// BPE vocabulary with the merges, CONTROL (special) and USER_DEFINED tokens
// as added tokens, UNUSED padding left out, as in the checkpoints llama.cpp
// converts from. The pre-tokenizer must be one of byteLevelSpecs.
func (v *Vocab) hfByteLevelFiles(files hfFiles) error {
	spec := byteLevelSpecs[v.Pre] // WriteHF checked it
	vocab := orderedJSON{}
	var added []any
	decoder := orderedJSON{}
	for id, s := range v.Tokens {
		switch typ := v.tokenType(id); typ {
		case TypeNormal:
			vocab = append(vocab, member{s, id})
		case TypeControl, TypeUserDefined:
			special := typ == TypeControl
			added = append(added, orderedJSON{
				{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false},
				{"rstrip", false}, {"normalized", false}, {"special", special},
			})
			decoder = append(decoder, member{fmt.Sprint(id), orderedJSON{
				{"content", s}, {"lstrip", false}, {"normalized", false}, {"rstrip", false},
				{"single_word", false}, {"special", special},
			}})
		}
	}
	merges := make([][2]string, len(v.Merges))
	for i, m := range v.Merges {
		l, r, _ := strings.Cut(m, " ")
		merges[i] = [2]string{l, r}
	}
	byteLevel := orderedJSON{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}
	var normalizer any
	if spec.normalizer != "" {
		normalizer = orderedJSON{{"type", spec.normalizer}}
	}
	tj := orderedJSON{
		{"version", "1.0"},
		{"truncation", nil},
		{"padding", nil},
		{"added_tokens", added},
		{"normalizer", normalizer},
		{"pre_tokenizer", orderedJSON{{"type", "Sequence"}, {"pretokenizers", []any{
			orderedJSON{{"type", "Split"}, {"pattern", orderedJSON{{"Regex", spec.regex}}}, {"behavior", "Isolated"}, {"invert", false}},
			byteLevel,
		}}}},
		{"post_processor", byteLevel},
		{"decoder", byteLevel},
		{"model", orderedJSON{
			{"type", "BPE"}, {"dropout", nil}, {"unk_token", nil},
			{"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""},
			{"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
			{"vocab", vocab}, {"merges", merges},
		}},
	}
	opt := func(id int) any {
		if s := v.tokenName(id); s != "" {
			return s
		}
		return nil
	}
	cfg := orderedJSON{
		{"add_bos_token", flag(v.AddBOS, false)},
		{"add_prefix_space", false},
		{"added_tokens_decoder", decoder},
		{"bos_token", nil},
	}
	if v.ChatTemplate != "" {
		cfg = append(cfg, member{"chat_template", v.ChatTemplate})
	}
	cfg = append(cfg,
		member{"clean_up_tokenization_spaces", false},
		member{"eos_token", opt(v.EOS)},
		member{"errors", "replace"},
		member{"model_max_length", bigModelMaxLength},
		member{"pad_token", opt(v.PAD)},
		member{"split_special_tokens", false},
		member{"tokenizer_class", spec.class},
		member{"unk_token", nil},
	)
	if err := files.putJSON("tokenizer.json", tj); err != nil {
		return err
	}
	if err := files.putJSON("tokenizer_config.json", cfg); err != nil {
		return err
	}
	return files.putJSON("special_tokens_map.json", v.hfSpecialTokensMap())
}
