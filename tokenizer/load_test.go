package tokenizer

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestLoadMixtral(t *testing.T) {
	v := mustLoad(t, mixtralDir, 32000)
	if len(v.Tokens) != 32000 || len(v.Scores) != 32000 || len(v.Types) != 32000 {
		t.Fatalf("%d tokens, %d scores, %d types", len(v.Tokens), len(v.Scores), len(v.Types))
	}
	if v.Model != "llama" || v.Pre != "default" || v.Source != "tokenizer.model" {
		t.Errorf("model %q pre %q source %q", v.Model, v.Pre, v.Source)
	}
	for b := 0; b < 256; b++ {
		if v.Tokens[3+b] != BytePiece(byte(b)) || PieceType(v.Types[3+b]) != TypeByte || v.Scores[3+b] != 0 {
			t.Fatalf("token %d = %q type %d score %v, want byte token %s", 3+b, v.Tokens[3+b], v.Types[3+b], v.Scores[3+b], BytePiece(byte(b)))
		}
	}
	// tokenizer_config.json lists <unk>, <s>, </s> in added_tokens_decoder as
	// special, so convert_hf_to_gguf.py types all three CONTROL with score
	// -1000; the tokenizer.model alone says UNKNOWN for <unk> (next test).
	for id, s := range []string{"<unk>", "<s>", "</s>"} {
		if v.Tokens[id] != s || PieceType(v.Types[id]) != TypeControl || v.Scores[id] != -1000 {
			t.Errorf("token %d = %q type %d score %v, want %q CONTROL -1000", id, v.Tokens[id], v.Types[id], v.Scores[id], s)
		}
	}
	if v.Tokens[261] != "▁t" || v.Scores[261] != -2 || PieceType(v.Types[261]) != TypeNormal {
		t.Errorf("token 261 = %q %v %d", v.Tokens[261], v.Scores[261], v.Types[261])
	}
	if v.BOS != 1 || v.EOS != 2 || v.UNK != 0 || v.PAD != -1 || v.SEP != -1 || v.MASK != -1 || v.EOT != -1 {
		t.Errorf("ids bos %d eos %d unk %d pad %d sep %d mask %d eot %d", v.BOS, v.EOS, v.UNK, v.PAD, v.SEP, v.MASK, v.EOT)
	}
	if v.AddBOS == nil || !*v.AddBOS || v.AddEOS == nil || *v.AddEOS || v.AddSEP == nil || *v.AddSEP {
		t.Errorf("add_bos %v add_eos %v add_sep %v, want true false false", v.AddBOS, v.AddEOS, v.AddSEP)
	}
	if v.AddSpacePrefix != nil || v.ChatTemplate != "" || v.ChatTemplates != nil || v.NormalizerLowercase {
		t.Errorf("unexpected extras: prefix %v template %q %v lower %v", v.AddSpacePrefix, v.ChatTemplate, v.ChatTemplates, v.NormalizerLowercase)
	}
}

func TestLoadMixtralModelOnly(t *testing.T) {
	v := mustLoad(t, onlyFiles(t, mixtralDir, "tokenizer.model"), 32000)
	want := []struct {
		tok string
		typ PieceType
	}{{"<unk>", TypeUnknown}, {"<s>", TypeControl}, {"</s>", TypeControl}, {"<0x00>", TypeByte}}
	for id, w := range want {
		if v.Tokens[id] != w.tok || PieceType(v.Types[id]) != w.typ || v.Scores[id] != 0 {
			t.Errorf("token %d = %q type %d score %v, want %q %v 0", id, v.Tokens[id], v.Types[id], v.Scores[id], w.tok, w.typ)
		}
	}
	// Without the JSON files SpecialVocab finds nothing; llama.cpp then uses
	// its SentencePiece defaults (BOS 1), which Encode follows.
	if v.BOS != -1 || v.AddBOS != nil || v.BOSToken() != 1 {
		t.Errorf("bos %d add_bos %v BOSToken %d", v.BOS, v.AddBOS, v.BOSToken())
	}
	keys := metadataKeys(v)
	if want := []string{KeyModel, KeyPre, KeyTokens, KeyScores, KeyTokenType}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
}

// TestLoadMixtralTokenizerJSON is the _set_vocab_llama_hf path: the same
// tokens and types as from tokenizer.model, every score -1000.
func TestLoadMixtralTokenizerJSON(t *testing.T) {
	full := mustLoad(t, mixtralDir, 32000)
	v := mustLoad(t, onlyFiles(t, mixtralDir, "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json"), 32000)
	if v.Source != "tokenizer.json" {
		t.Errorf("source %q", v.Source)
	}
	if !slices.Equal(v.Tokens, full.Tokens) {
		t.Error("tokens differ from the tokenizer.model vocabulary")
	}
	if !slices.Equal(v.Types, full.Types) {
		t.Error("token types differ from the tokenizer.model vocabulary")
	}
	for id, s := range v.Scores {
		if s != -1000 {
			t.Fatalf("score %d = %v, want -1000", id, s)
		}
	}
	if v.BOS != 1 || v.EOS != 2 || v.UNK != 0 || !*v.AddBOS || *v.AddEOS {
		t.Errorf("bos %d eos %d unk %d add_bos %v add_eos %v", v.BOS, v.EOS, v.UNK, *v.AddBOS, *v.AddEOS)
	}
}

func TestLoadTiny(t *testing.T) {
	v := mustLoad(t, tinyDir, 1024)
	if len(v.Tokens) != 1024 {
		t.Fatalf("%d tokens", len(v.Tokens))
	}
	// transformers 5 wrote no added_tokens_decoder, so <unk> stays UNKNOWN.
	if got := v.Types[:4]; !slices.Equal(got, []int32{2, 3, 3, 6}) {
		t.Errorf("types[:4] = %v", got)
	}
	if v.BOS != 1 || v.EOS != 2 || v.UNK != 0 {
		t.Errorf("bos %d eos %d unk %d", v.BOS, v.EOS, v.UNK)
	}
	// add_bos comes from tokenizer.json's TemplateProcessing; there is no
	// add_bos_token in this tokenizer_config.json.
	if v.AddBOS == nil || !*v.AddBOS || v.AddEOS != nil || v.AddSEP == nil || *v.AddSEP {
		t.Errorf("add_bos %v add_eos %v add_sep %v", v.AddBOS, v.AddEOS, v.AddSEP)
	}
	// "add_prefix_space": null is not a boolean: no key.
	if v.AddSpacePrefix != nil {
		t.Errorf("add_space_prefix %v, want absent", *v.AddSpacePrefix)
	}
	js := mustLoad(t, onlyFiles(t, tinyDir, "tokenizer.json", "tokenizer_config.json", "config.json"), 1024)
	if !slices.Equal(js.Tokens, v.Tokens) {
		t.Error("tokenizer.json tokens differ")
	}
	for id := range v.Types {
		want := v.Types[id]
		if id == 0 {
			want = int32(TypeControl) // transformers counts <unk> among the special tokens
		}
		if js.Types[id] != want {
			t.Errorf("tokenizer.json type %d = %d, want %d", id, js.Types[id], want)
		}
	}
}

func TestLoadPadding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dir   string
		score float32
	}{
		{"tokenizer.model", onlyFiles(t, tinyDir, "tokenizer.model"), -10000},
		{"tokenizer.json", onlyFiles(t, tinyDir, "tokenizer.json"), -1000},
	} {
		v := mustLoad(t, tc.dir, 1030)
		if len(v.Tokens) != 1030 || len(v.Scores) != 1030 || len(v.Types) != 1030 {
			t.Fatalf("%s: %d tokens", tc.name, len(v.Tokens))
		}
		for id := 1024; id < 1030; id++ {
			if want := "[PAD" + strconv.Itoa(id) + "]"; v.Tokens[id] != want || PieceType(v.Types[id]) != TypeUnused || v.Scores[id] != tc.score {
				t.Errorf("%s: token %d = %q %d %v, want %q UNUSED %v", tc.name, id, v.Tokens[id], v.Types[id], v.Scores[id], want, tc.score)
			}
		}
		if _, err := Load(tc.dir, 1023); err == nil || !strings.Contains(err.Error(), "exceed the model's vocabulary size 1023") {
			t.Errorf("%s: vocabSize below the tokenizer's size: %v", tc.name, err)
		}
		if v := mustLoad(t, tc.dir, 0); len(v.Tokens) != 1024 {
			t.Errorf("%s: vocabSize 0 gave %d tokens", tc.name, len(v.Tokens))
		}
	}
}

func metadataKeys(v *Vocab) []string {
	var keys []string
	for _, kv := range v.GGUFMetadata() {
		keys = append(keys, kv.Key)
	}
	return keys
}

// tinyWith builds a checkpoint folder from tiny-mixtral's tokenizer files and
// the given extra files (name → content; "" deletes a copied file).
func tinyWith(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := onlyFiles(t, tinyDir, "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "config.json")
	for name, content := range files {
		path := filepath.Join(dir, name)
		if content == "" {
			os.Remove(path)
			continue
		}
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadSpecialVocab(t *testing.T) {
	const tcBase = `"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"`
	tests := []struct {
		name  string
		files map[string]string
		check func(t *testing.T, v *Vocab)
	}{
		{"chat template string", map[string]string{"tokenizer_config.json": `{` + tcBase + `, "chat_template": "{{ messages }}"}`},
			func(t *testing.T, v *Vocab) {
				keys := metadataKeys(v)
				if v.ChatTemplate != "{{ messages }}" || keys[len(keys)-1] != KeyChatTemplate {
					t.Errorf("template %q, keys %v", v.ChatTemplate, keys)
				}
			}},
		{"named chat templates", map[string]string{"tokenizer_config.json": `{` + tcBase + `, "chat_template": [
				{"name": "default", "template": "D"}, {"name": "tool use", "template": "T"}, {"name": "rag", "template": "R"}, {"name": "", "template": "X"}, {"name": "none"}]}`},
			func(t *testing.T, v *Vocab) {
				want := []NamedTemplate{{"tool_use", "T"}, {"rag", "R"}}
				if v.ChatTemplate != "D" || !reflect.DeepEqual(v.ChatTemplates, want) {
					t.Errorf("templates %q %v", v.ChatTemplate, v.ChatTemplates)
				}
				keys := metadataKeys(v)
				tail := keys[len(keys)-4:]
				if want := []string{"tokenizer.chat_template.tool_use", "tokenizer.chat_template.rag", KeyChatTemplates, KeyChatTemplate}; !slices.Equal(tail, want) {
					t.Errorf("key tail %v, want %v", tail, want)
				}
			}},
		{"chat_template.jinja", map[string]string{"chat_template.jinja": "J", "additional_chat_templates/tool.jinja": "T"},
			func(t *testing.T, v *Vocab) {
				if v.ChatTemplate != "J" || len(v.ChatTemplates) != 1 || v.ChatTemplates[0] != (NamedTemplate{"tool", "T"}) {
					t.Errorf("templates %q %v", v.ChatTemplate, v.ChatTemplates)
				}
			}},
		{"chat_template.json", map[string]string{"chat_template.json": `{"chat_template": "F"}`},
			func(t *testing.T, v *Vocab) {
				if v.ChatTemplate != "F" {
					t.Errorf("template %q", v.ChatTemplate)
				}
			}},
		{"tokenizer_config template wins", map[string]string{"chat_template.jinja": "J", "tokenizer_config.json": `{` + tcBase + `, "chat_template": "C"}`},
			func(t *testing.T, v *Vocab) {
				if v.ChatTemplate != "C" {
					t.Errorf("template %q", v.ChatTemplate)
				}
			}},
		{"added_tokens_decoder", map[string]string{"tokenizer_config.json": `{` + tcBase + `, "added_tokens_decoder": {
				"1000": {"content": "▁hello▁world", "special": false},
				"1001": {"content": "<|im_end|>", "special": false},
				"1002": {"content": "[TOOL]", "special": true},
				"5000": {"content": "ignored", "special": true}}}`},
			func(t *testing.T, v *Vocab) {
				for id, want := range map[int]struct {
					tok string
					typ PieceType
				}{1000: {" hello world", TypeUserDefined}, 1001: {"<|im_end|>", TypeControl}, 1002: {"[TOOL]", TypeControl}} {
					if v.Tokens[id] != want.tok || PieceType(v.Types[id]) != want.typ || v.Scores[id] != -1000 {
						t.Errorf("token %d = %q %d %v, want %q %v -1000", id, v.Tokens[id], v.Types[id], v.Scores[id], want.tok, want.typ)
					}
				}
			}},
		{"added_tokens.json", map[string]string{"added_tokens.json": `{"<extra>": 1023, "<far>": 4000}`},
			func(t *testing.T, v *Vocab) {
				if v.Tokens[1023] != "<extra>" || PieceType(v.Types[1023]) != TypeUserDefined || v.Scores[1023] != -1000 {
					t.Errorf("token 1023 = %q %d %v", v.Tokens[1023], v.Types[1023], v.Scores[1023])
				}
			}},
		{"token entries as AddedToken objects", map[string]string{"tokenizer_config.json": `{"bos_token": {"content": "<s>", "__type": "AddedToken"}, "eos_token": {"content": "</s>"}, "unk_token": null, "add_eos_token": true}`},
			func(t *testing.T, v *Vocab) {
				if v.BOS != 1 || v.EOS != 2 || v.UNK != -1 || v.AddEOS == nil || !*v.AddEOS {
					t.Errorf("bos %d eos %d unk %d add_eos %v", v.BOS, v.EOS, v.UNK, v.AddEOS)
				}
				keys := metadataKeys(v)
				if want := []string{KeyModel, KeyPre, KeyTokens, KeyScores, KeyTokenType, idKeys["bos"], idKeys["eos"],
					addKeys["bos"], addKeys["sep"], addKeys["eos"]}; !slices.Equal(keys, want) {
					t.Errorf("keys %v, want %v", keys, want)
				}
			}},
		{"config.json fallback and order", map[string]string{
			"tokenizer_config.json": `{"eos_token": "</s>"}`,
			"config.json":           `{"bos_token_id": 1, "pad_token_id": 0, "eos_token_id": 5, "unk_token_id": -1, "sep_token_id": 2.0, "mask_token_id": true}`},
			func(t *testing.T, v *Vocab) {
				if v.BOS != 1 || v.EOS != 2 || v.PAD != 0 || v.UNK != -1 || v.SEP != -1 || v.MASK != -1 {
					t.Errorf("bos %d eos %d pad %d unk %d sep %d mask %d", v.BOS, v.EOS, v.PAD, v.UNK, v.SEP, v.MASK)
				}
				var ids []string
				for _, k := range metadataKeys(v) {
					if strings.HasSuffix(k, "_token_id") {
						ids = append(ids, k)
					}
				}
				if want := []string{idKeys["eos"], idKeys["bos"], idKeys["pad"]}; !slices.Equal(ids, want) {
					t.Errorf("id keys %v, want %v (tokenizer_config first, then config.json)", ids, want)
				}
			}},
		{"text_config ids", map[string]string{"tokenizer_config.json": "", "config.json": `{"text_config": {"bos_token_id": 1, "eos_token_id": 2}}`},
			func(t *testing.T, v *Vocab) {
				if v.BOS != 1 || v.EOS != 2 {
					t.Errorf("bos %d eos %d", v.BOS, v.EOS)
				}
			}},
		{"empty tokenizer_config", map[string]string{"tokenizer_config.json": `{}`, "config.json": `{"bos_token_id": 1}`},
			func(t *testing.T, v *Vocab) {
				// Only the TemplateProcessing's BOS and config.json's id remain.
				if v.BOS != 1 || v.EOS != -1 || v.AddBOS == nil || !*v.AddBOS || v.AddSEP == nil || *v.AddSEP || v.AddEOS != nil {
					t.Errorf("bos %d eos %d add_bos %v add_sep %v add_eos %v", v.BOS, v.EOS, v.AddBOS, v.AddSEP, v.AddEOS)
				}
			}},
		{"add_prefix_space false", map[string]string{"tokenizer_config.json": `{` + tcBase + `, "add_prefix_space": false}`},
			func(t *testing.T, v *Vocab) {
				keys := metadataKeys(v)
				if v.AddSpacePrefix == nil || *v.AddSpacePrefix || keys[len(keys)-1] != KeyAddSpace {
					t.Errorf("add_space_prefix %v keys %v", v.AddSpacePrefix, keys)
				}
				if got := v.Encode("The", false); len(got) == 0 || v.Tokens[got[0]][0] == "▁"[0] {
					t.Errorf("Encode without a dummy prefix = %v", got)
				}
			}},
		{"TemplateProcessing with EOS", map[string]string{"tokenizer.model": "", "tokenizer.json": withPostProcessor(t,
			`{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}],
			  "pair": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}, {"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "B"}}, {"SpecialToken": {"id": "</s>"}}]}`)},
			func(t *testing.T, v *Vocab) {
				if !*v.AddBOS || v.AddEOS == nil || !*v.AddEOS || v.AddSEP == nil || *v.AddSEP {
					t.Errorf("add_bos %v add_eos %v add_sep %v", v.AddBOS, v.AddEOS, v.AddSEP)
				}
			}},
		{"TemplateProcessing separator", map[string]string{"tokenizer.model": "", "tokenizer.json": withPostProcessor(t,
			`{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}],
			  "pair": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}, {"Sequence": {"id": "B"}}]}`)},
			func(t *testing.T, v *Vocab) {
				if v.AddSEP == nil || !*v.AddSEP || v.SEP != 2 {
					t.Errorf("add_sep %v sep %d", v.AddSEP, v.SEP)
				}
			}},
		{"TemplateProcessing trailing token becomes EOS", map[string]string{"tokenizer.model": "",
			"tokenizer_config.json": `{"bos_token": "<s>", "eos_token": "<unk>"}`,
			"tokenizer.json":        withPostProcessor(t, `{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}]}`)},
			func(t *testing.T, v *Vocab) {
				if v.EOS != 2 || v.EOT != 0 || !*v.AddEOS {
					t.Errorf("eos %d eot %d add_eos %v", v.EOS, v.EOT, *v.AddEOS)
				}
				var ids []string
				for _, k := range metadataKeys(v) {
					if strings.HasSuffix(k, "_token_id") {
						ids = append(ids, k)
					}
				}
				if want := []string{idKeys["bos"], idKeys["eos"], idKeys["eot"]}; !slices.Equal(ids, want) {
					t.Errorf("id keys %v, want %v", ids, want)
				}
			}},
		{"RobertaProcessing", map[string]string{"tokenizer.model": "",
			"tokenizer_config.json": `{"bos_token": "<s>", "eos_token": "</s>"}`,
			"tokenizer.json":        withPostProcessor(t, `{"type": "Sequence", "processors": [{"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 1]}]}`)},
			func(t *testing.T, v *Vocab) {
				if !*v.AddBOS || !*v.AddEOS || !*v.AddSEP || v.SEP != 2 {
					t.Errorf("add_bos %v add_eos %v add_sep %v sep %d", *v.AddBOS, *v.AddEOS, *v.AddSEP, v.SEP)
				}
			}},
		{"lowercase normalizer", map[string]string{"tokenizer.model": "", "tokenizer.json": strings.Replace(
			string(readFile(t, filepath.Join(tinyDir, "tokenizer.json"))), `"normalizer": null`, `"normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}]}`, 1)},
			func(t *testing.T, v *Vocab) {
				keys := metadataKeys(v)
				if !v.NormalizerLowercase || !slices.Contains(keys, KeyLowercase) {
					t.Errorf("lowercase %v keys %v", v.NormalizerLowercase, keys)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustLoad(t, tinyWith(t, tc.files), 1024))
		})
	}
}

// withPostProcessor returns tiny-mixtral's tokenizer.json with another
// post_processor.
func withPostProcessor(t *testing.T, pp string) string {
	t.Helper()
	var tj map[string]any
	if err := json.Unmarshal(readFile(t, filepath.Join(tinyDir, "tokenizer.json")), &tj); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(pp), &v); err != nil {
		t.Fatal(err)
	}
	tj["post_processor"] = v
	out, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestLoadErrors(t *testing.T) {
	tinyJSON := string(readFile(t, filepath.Join(tinyDir, "tokenizer.json")))
	jsonOnly := func(content string) map[string]string {
		return map[string]string{"tokenizer.model": "", "tokenizer.json": content}
	}
	tests := []struct {
		name     string
		files    map[string]string
		want     string
		sentinel error
	}{
		{"no tokenizer", map[string]string{"tokenizer.model": "", "tokenizer.json": ""}, "no tokenizer.model or tokenizer.json", fs.ErrNotExist},
		{"bad tokenizer_config", map[string]string{"tokenizer_config.json": `{"bos_token": `}, "tokenizer_config.json: offset", ErrFormat},
		{"tokenizer_config not an object", map[string]string{"tokenizer_config.json": `[1]`}, "not an object", ErrFormat},
		{"bad config.json", map[string]string{"config.json": `{"a": 1} x`}, "config.json", ErrFormat},
		{"bad tokenizer.model", map[string]string{"tokenizer.model": "\x0a\x09abc"}, "tokenizer.model: offset 1", ErrFormat},
		{"bad added_tokens_decoder key", map[string]string{"tokenizer_config.json": `{"added_tokens_decoder": {"x": {"content": "a"}}}`}, "added_tokens_decoder.x", ErrFormat},
		{"bad added_tokens_decoder entry", map[string]string{"tokenizer_config.json": `{"added_tokens_decoder": {"5": {"content": 5}}}`}, "content is not a string", ErrFormat},
		{"bad added_tokens.json", map[string]string{"added_tokens.json": `{"a": "b"}`}, "added_tokens.json", ErrFormat},
		{"tokenizer.json syntax", jsonOnly(`{"model": {`), "tokenizer.json", ErrFormat},
		{"tokenizer.json wrong type", jsonOnly(`{"model": {"vocab": [1]}}`), "tokenizer.json", ErrFormat},
		{"vocab id out of range", jsonOnly(strings.Replace(tinyJSON, `"<unk>": 0,`, `"<unk>": 5000,`, 1)), "outside 0..1023", ErrFormat},
		{"vocab id twice", jsonOnly(strings.Replace(tinyJSON, `"<unk>": 0,`, `"<unk>": 1,`, 1)), "used twice", ErrFormat},
		{"added tokens not contiguous", jsonOnly(strings.Replace(tinyJSON, `"id": 2,`, `"id": 1030,`, 1)), "not contiguous", ErrFormat},
		{"bad merge", jsonOnly(strings.Replace(tinyJSON, `"merges": [`, `"merges": ["a b c", `, 1)), "model.merges[0]", ErrFormat},
		{"unigram tokenizer.json", jsonOnly(strings.Replace(tinyJSON, `"type": "BPE"`, `"type": "Unigram"`, 1)), `model type "Unigram"`, ErrUnsupported},
		{"byte-level BPE", jsonOnly(strings.NewReplacer(`"byte_fallback": true`, `"byte_fallback": false`, `"ignore_merges": false`, `"ignore_merges": true`).Replace(tinyJSON)), "Llama 3 style", ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Load(tinyWith(t, tc.files), 1024)
			if err == nil {
				t.Fatalf("loaded %d tokens, want error %q", len(v.Tokens), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.sentinel) {
				t.Errorf("error %q, want %q matching %v", err, tc.want, tc.sentinel)
			}
		})
	}
}
