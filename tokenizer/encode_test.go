package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const (
	mixtralDir = "../testdata/mixtral-8x7b-meta"
	tinyDir    = "../testdata/tiny-mixtral"
)

type encodeCase struct {
	Text       string `json:"text"`
	IDs        []int  `json:"ids"`
	IDsWithBOS []int  `json:"ids_with_bos"`
}

func readEncodeCases(t *testing.T, path string) []encodeCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []encodeCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return ref.Cases
}

func mustLoad(t testing.TB, dir string, vocabSize int) *Vocab {
	t.Helper()
	v, err := Load(dir, vocabSize)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// onlyFiles copies the named files of src into a fresh directory, to load a
// checkpoint as if the other tokenizer files were absent.
func onlyFiles(t *testing.T, src string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func checkEncode(t *testing.T, v *Vocab, cases []encodeCase) {
	t.Helper()
	for _, c := range cases {
		if got := v.Encode(c.Text, false); !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
			t.Errorf("Encode(%q) = %v, want %v", c.Text, got, c.IDs)
		}
		if c.IDsWithBOS != nil {
			if got := v.Encode(c.Text, true); !slices.Equal(got, c.IDsWithBOS) {
				t.Errorf("Encode(%q, bos) = %v, want %v", c.Text, got, c.IDsWithBOS)
			}
		}
	}
}

func TestEncodeMixtralReference(t *testing.T) {
	cases := readEncodeCases(t, filepath.Join(mixtralDir, "tokenization-reference.json"))
	checkEncode(t, mustLoad(t, mixtralDir, 32000), cases)
}

func TestEncodeMixtralFromTokenizerJSON(t *testing.T) {
	cases := readEncodeCases(t, filepath.Join(mixtralDir, "tokenization-reference.json"))
	dir := onlyFiles(t, mixtralDir, "tokenizer.json", "tokenizer_config.json", "config.json")
	checkEncode(t, mustLoad(t, dir, 32000), cases)
}

func TestEncodeTinyReference(t *testing.T) {
	f, err := os.Open("../testdata/tiny-mixtral-reference.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Text     string `json:"text"`
		InputIDs []int  `json:"input_ids"`
	}
	if err := json.NewDecoder(zr).Decode(&ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.InputIDs) != 30 {
		t.Fatalf("reference has %d ids, want 30", len(ref.InputIDs))
	}
	for _, files := range [][]string{
		{"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "config.json"},
		{"tokenizer.model"},
		{"tokenizer.json", "tokenizer_config.json", "config.json"},
	} {
		v := mustLoad(t, onlyFiles(t, tinyDir, files...), 1024)
		if got := v.Encode(ref.Text, true); !slices.Equal(got, ref.InputIDs) {
			t.Errorf("files %v: Encode(%q) = %v, want %v", files, ref.Text, got, ref.InputIDs)
		}
	}
}

// TestEncodeSentencePieceGolden compares against ids sentencepiece 0.1.97
// produced for 411 mixed-script, whitespace-heavy and special-looking
// strings (testdata/gen_spm_golden.py), for both tokenizer.model and the
// tokenizer.json fallback of each checkpoint.
func TestEncodeSentencePieceGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/spm-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Models map[string][]encodeCase `json:"models"`
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model, dir string
		files      []string
		size       int
	}{
		{"mixtral", mixtralDir, []string{"tokenizer.model", "tokenizer_config.json", "config.json"}, 32000},
		{"mixtral", mixtralDir, []string{"tokenizer.json", "tokenizer_config.json", "config.json"}, 32000},
		{"tiny", tinyDir, []string{"tokenizer.model", "tokenizer_config.json", "config.json"}, 1024},
		{"tiny", tinyDir, []string{"tokenizer.json", "tokenizer_config.json", "config.json"}, 1024},
	} {
		t.Run(tc.model+"/"+tc.files[0], func(t *testing.T) {
			cases := golden.Models[tc.model]
			if len(cases) < 400 {
				t.Fatalf("%d golden cases, want >= 400", len(cases))
			}
			checkEncode(t, mustLoad(t, onlyFiles(t, tc.dir, tc.files...), tc.size), cases)
		})
	}
}

// synth builds a small vocabulary: <unk>, <s>, </s>, optionally the 256 byte
// tokens, then the given pieces.
func synth(withBytes bool, pieces ...Piece) *Vocab {
	v := newVocab()
	add := func(p Piece) {
		v.Tokens = append(v.Tokens, p.Piece)
		v.Scores = append(v.Scores, p.Score)
		v.Types = append(v.Types, int32(p.Type))
	}
	add(Piece{"<unk>", 0, TypeUnknown})
	add(Piece{"<s>", 0, TypeControl})
	add(Piece{"</s>", 0, TypeControl})
	if withBytes {
		for b := 0; b < 256; b++ {
			add(Piece{BytePiece(byte(b)), 0, TypeByte})
		}
	}
	for _, p := range pieces {
		add(p)
	}
	v.BOS, v.EOS, v.UNK = 1, 2, 0
	return v
}

func TestEncodeRules(t *testing.T) {
	tok := func(v *Vocab, ids []int) []string {
		var out []string
		for _, id := range ids {
			out = append(out, v.Tokens[id])
		}
		return out
	}
	noPrefix := func(v *Vocab) *Vocab { v.AddSpacePrefix = boolPtr(false); return v }
	tests := []struct {
		name string
		v    *Vocab
		text string
		bos  bool
		want []string
	}{
		{"empty", synth(true), "", false, nil},
		{"empty with BOS", synth(true), "", true, []string{"<s>"}},
		{"highest score first", synth(true, Piece{"▁", -1, TypeNormal}, Piece{"a", -1, TypeNormal}, Piece{"b", -1, TypeNormal},
			Piece{"▁a", -5, TypeNormal}, Piece{"ab", -2, TypeNormal}), "ab", false, []string{"▁", "ab"}},
		{"ties go left", synth(true, Piece{"a", -1, TypeNormal}, Piece{"aa", -3, TypeNormal}), "aaa", false, []string{"<0xE2>", "<0x96>", "<0x81>", "aa", "a"}},
		{"unused piece split back", noPrefix(synth(true, Piece{"a", -1, TypeNormal}, Piece{"b", -1, TypeNormal}, Piece{"ab", 10, TypeUnused})),
			"ab", false, []string{"a", "b"}},
		{"unused piece as a step", synth(true, Piece{"▁", -1, TypeNormal}, Piece{"a", -1, TypeNormal}, Piece{"b", -1, TypeNormal},
			Piece{"ab", 10, TypeUnused}, Piece{"▁ab", 1, TypeNormal}), "ab", false, []string{"▁ab"}},
		{"user-defined matched whole", synth(true, Piece{"▁", -1, TypeNormal}, Piece{"x", -1, TypeNormal}, Piece{"y", -1, TypeNormal},
			Piece{"▁x", -2, TypeNormal}, Piece{"<tool>", 0, TypeUserDefined}, Piece{"<tool>y", 5, TypeNormal}), "x<tool>y", false, []string{"▁x", "<tool>", "y"}},
		{"control never formed", synth(true, Piece{"<", -1, TypeNormal}, Piece{"s", -1, TypeNormal}, Piece{">", -1, TypeNormal},
			Piece{"<s", -2, TypeNormal}), "<s>", false, []string{"<0xE2>", "<0x96>", "<0x81>", "<s", ">"}},
		{"byte fallback", synth(true, Piece{"▁", -1, TypeNormal}), "é", true, []string{"<s>", "▁", "<0xC3>", "<0xA9>"}},
		{"invalid UTF-8", synth(true, Piece{"▁", -1, TypeNormal}), "\xff\xe4\xb8", false, []string{"▁", "<0xFF>", "<0xE4>", "<0xB8>"}},
		{"no byte tokens: one unk per run", synth(false, Piece{"▁", -1, TypeNormal}, Piece{"a", -1, TypeNormal}), "qz a", false, []string{"▁", "<unk>", "▁", "a"}},
		{"no dummy prefix", noPrefix(synth(true, Piece{"▁", -1, TypeNormal}, Piece{"a", -1, TypeNormal})), "a a", false, []string{"a", "▁", "a"}},
	}
	for _, tc := range tests {
		if got := tok(tc.v, tc.v.Encode(tc.text, tc.bos)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Encode(%q) = %q, want %q", tc.name, tc.text, got, tc.want)
		}
	}
}

func TestEncodeConcurrent(t *testing.T) {
	v := mustLoad(t, tinyDir, 1024)
	want := v.Encode("The router picks two of the eight experts", true)
	done := make(chan []int)
	for range 4 {
		go func() { done <- v.Encode("The router picks two of the eight experts", true) }()
	}
	for range 4 {
		if got := <-done; !slices.Equal(got, want) {
			t.Errorf("concurrent Encode = %v, want %v", got, want)
		}
	}
}
