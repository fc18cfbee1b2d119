package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// viaGGUF passes v through GGUF metadata, as a GGUF → HF conversion does.
func viaGGUF(t *testing.T, v *Vocab) *Vocab {
	t.Helper()
	m := map[string]any{}
	for _, kv := range v.GGUFMetadata() {
		m[kv.Key] = kv.Value
	}
	got, err := FromGGUFMetadata(func(k string) (any, bool) { x, ok := m[k]; return x, ok })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func decodeJSONFile(t *testing.T, path string) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(readFile(t, path)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestWriteHFMixtral: Mixtral's vocabulary, taken to GGUF metadata and back,
// is written as the same tokenizer.json, tokenizer_config.json and
// special_tokens_map.json Mistral published (same JSON values, merges in the
// same order), and as a tokenizer.model equal to the original.
func TestWriteHFMixtral(t *testing.T) {
	out := t.TempDir()
	if err := viaGGUF(t, mustLoad(t, mixtralDir, 32000)).WriteHF(out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} {
		got, want := decodeJSONFile(t, filepath.Join(out, name)), decodeJSONFile(t, filepath.Join(mixtralDir, name))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from the original", name)
		}
	}
	orig, err := OpenModel(filepath.Join(mixtralDir, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	written, err := OpenModel(filepath.Join(out, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	if written.Trainer != orig.Trainer || written.Normalizer != orig.Normalizer {
		t.Errorf("specs %+v %+v, want %+v %+v", written.Trainer, written.Normalizer, orig.Trainer, orig.Normalizer)
	}
	for id, p := range orig.Pieces {
		w := written.Pieces[id]
		if id < 3 { // llama.cpp's converter set these scores to -1000
			w.Score = p.Score
		}
		if w != p {
			t.Fatalf("piece %d = %+v, want %+v", id, written.Pieces[id], p)
		}
	}
	again := mustLoad(t, out, 32000)
	base := mustLoad(t, mixtralDir, 32000)
	if !slices.Equal(again.Tokens, base.Tokens) || !slices.Equal(again.Types, base.Types) || !slices.Equal(again.Scores, base.Scores) {
		t.Error("Load of the written folder differs from Load of the original")
	}
}

func TestWriteHFTiny(t *testing.T) {
	out := t.TempDir()
	if err := viaGGUF(t, mustLoad(t, tinyDir, 1024)).WriteHF(out); err != nil {
		t.Fatal(err)
	}
	data := readFile(t, "testdata/spm-golden.json")
	var golden struct {
		Models map[string][]encodeCase `json:"models"`
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	for _, files := range [][]string{{"tokenizer.model"}, {"tokenizer.json", "tokenizer_config.json"}} {
		checkEncode(t, mustLoad(t, onlyFiles(t, out, files...), 1024), golden.Models["tiny"])
	}
	// Same merges as transformers 5 derived; only the order among merges
	// forming the same piece may differ.
	orig, err := readHFTokenizer(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := readHFTokenizer(out)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := orig.merges()
	b, _ := mine.merges()
	key := func(m [2]string) string { return m[0] + " " + m[1] }
	as, bs := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		as[i] = key(a[i])
	}
	for i := range b {
		bs[i] = key(b[i])
	}
	slices.Sort(as)
	slices.Sort(bs)
	if !slices.Equal(as, bs) {
		t.Errorf("merge sets differ: %d vs %d", len(a), len(b))
	}
}

func TestWriteHFOptions(t *testing.T) {
	v := mustLoad(t, tinyDir, 1030)
	v.AddSpacePrefix = boolPtr(false)
	v.AddEOS = boolPtr(true)
	v.PAD = 1029
	v.ChatTemplate = "D"
	v.ChatTemplates = []NamedTemplate{{"tool_use", "T"}}
	out := t.TempDir()
	if err := v.WriteHF(out); err != nil {
		t.Fatal(err)
	}
	tj := string(readFile(t, filepath.Join(out, "tokenizer.json")))
	for _, s := range []string{`"Prepend"`, `"Strip"`} {
		if strings.Contains(tj, s) {
			t.Errorf("tokenizer.json has %s without a space prefix", s)
		}
	}
	if !strings.Contains(tj, `"id": "</s>"`) {
		t.Error("post_processor does not append </s>")
	}
	cfg := decodeJSONFile(t, filepath.Join(out, "tokenizer_config.json")).(map[string]any)
	wantTemplates := []any{map[string]any{"name": "default", "template": "D"}, map[string]any{"name": "tool_use", "template": "T"}}
	if cfg["add_prefix_space"] != false || cfg["add_eos_token"] != true || cfg["pad_token"] != "[PAD1029]" || !reflect.DeepEqual(cfg["chat_template"], wantTemplates) {
		t.Errorf("tokenizer_config.json %v", cfg)
	}
	m, err := OpenModel(filepath.Join(out, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Normalizer.AddDummyPrefix || m.Trainer.PadID != 1029 || m.Trainer.PadPiece != "[PAD1029]" || len(m.Pieces) != 1030 || m.Pieces[1029].Type != TypeUnused {
		t.Errorf("tokenizer.model specs %+v %+v", m.Normalizer, m.Trainer)
	}
	// Load reads back what was written.
	back := mustLoad(t, out, 1030)
	if back.ChatTemplate != "D" || !slices.Equal(back.ChatTemplates, v.ChatTemplates) || back.PAD != 1029 || !*back.AddEOS || *back.AddSpacePrefix {
		t.Errorf("reloaded: template %q %v pad %d add_eos %v add_space_prefix %v", back.ChatTemplate, back.ChatTemplates, back.PAD, *back.AddEOS, *back.AddSpacePrefix)
	}
	if got := back.Encode("The", false); v.Tokens[got[0]] == "▁The" || len(got) == 0 {
		t.Errorf("Encode without dummy prefix = %v", got)
	}
}

func TestWriteHFErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(v *Vocab)
		want string
	}{
		{"duplicate token", func(v *Vocab) { v.Tokens[5] = v.Tokens[6] }, "duplicates token"},
		{"empty token", func(v *Vocab) { v.Tokens[5] = "" }, "token 5 is empty"},
		{"not llama", func(v *Vocab) { v.Model = "bert" }, "unsupported"},
		{"unknown byte-level pre-tokenizer", func(v *Vocab) { v.Model = "gpt2" }, `pre-tokenizer "default"`},
		{"no tokens", func(v *Vocab) { v.Tokens, v.Scores, v.Types = nil, nil, nil }, "empty vocabulary"},
		{"short scores", func(v *Vocab) { v.Scores = v.Scores[:3] }, "3 scores"},
	}
	for _, tc := range tests {
		v := mustLoad(t, onlyFiles(t, tinyDir, "tokenizer.model"), 1024)
		tc.edit(v)
		out := filepath.Join(t.TempDir(), "hf")
		err := v.WriteHF(out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if _, statErr := os.Stat(out); statErr == nil {
			t.Errorf("%s: output folder created despite the error", tc.name)
		}
	}
}
