package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const tinyQwen3MoE = "../testdata/tiny-qwen3-moe"

// The byte-level vocabulary of tiny-qwen3-moe tokenizes every reference
// string as @huggingface/tokenizers did (tokenization-reference.json), read
// from tokenizer.json and again from its GGUF metadata.
func TestByteLevelMatchesReference(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(tinyQwen3MoE, "tokenization-reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	v, err := Load(tinyQwen3MoE, 8256)
	if err != nil {
		t.Fatal(err)
	}
	if v.Model != "gpt2" || v.Pre != "qwen2" || len(v.Tokens) != 8256 || len(v.Merges) != 7936 || v.Scores != nil {
		t.Fatalf("model %q pre %q, %d tokens, %d merges, scores %v", v.Model, v.Pre, len(v.Tokens), len(v.Merges), v.Scores != nil)
	}
	meta := map[string]any{}
	for _, kv := range v.GGUFMetadata() {
		meta[kv.Key] = kv.Value
	}
	fromGGUF, err := FromGGUFMetadata(func(k string) (any, bool) { x, ok := meta[k]; return x, ok })
	if err != nil {
		t.Fatal(err)
	}
	for name, vocab := range map[string]*Vocab{"tokenizer.json": v, "gguf": fromGGUF} {
		for _, r := range ref {
			if got := vocab.Encode(r.Text, true); !slices.Equal(got, r.IDs) {
				t.Errorf("%s: %q: %v, want %v", name, r.Text, got, r.IDs)
			}
		}
	}
}

func TestSplitQwen2(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"I'm fine", []string{"I", "'m", " fine"}},
		{"DON'T", []string{"DON", "'T"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a \n\n b", []string{"a", " \n\n", " b"}},
		{"x   ", []string{"x", "   "}},
		{"12ab", []string{"1", "2", "ab"}},
		{" ...\n\nz", []string{" ...\n\n", "z"}},
		{"\t\tx", []string{"\t", "\tx"}},
	} {
		if got := splitQwen2([]rune(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

// Written back as Hugging Face files, the byte-level vocabulary loads as
// the same GGUF vocabulary and tokenizes as before.
func TestByteLevelWriteHFRoundTrip(t *testing.T) {
	v, err := Load(tinyQwen3MoE, 8256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := v.WriteHF(dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(tinyQwen3MoE, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir, 8256)
	if err != nil {
		t.Fatal(err)
	}
	want, got := v.GGUFMetadata(), back.GGUFMetadata()
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || fmt.Sprint(got[i].Value) != fmt.Sprint(want[i].Value) {
			t.Errorf("key %d: %s differs from %s", i, got[i].Key, want[i].Key)
		}
	}
	text := "I'm sure <think>\n 12 café</think> 😀"
	if a, b := v.Encode(text, false), back.Encode(text, false); !slices.Equal(a, b) {
		t.Errorf("%v, before writing %v", b, a)
	}
}

// Byte-level BPE loses nothing: the tokens of any valid UTF-8 text spell
// its bytes, and the pre-tokenizer's pieces are non-empty and cover it.
func FuzzByteLevelEncode(f *testing.F) {
	v, err := Load(tinyQwen3MoE, 8256)
	if err != nil {
		f.Fatal(err)
	}
	runeByte := map[rune]byte{}
	for b, r := range byteRunes {
		runeByte[r] = byte(b)
	}
	for _, s := range []string{"Hello world", "I'm  fine\n\n\tx", "café 😀 12,345", "<think>x</think>", " \r\n "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = string([]rune(s))
		var joined string
		for _, p := range splitQwen2([]rune(s)) {
			if p == "" {
				t.Fatalf("%q: empty piece", s)
			}
			joined += p
		}
		if joined != s {
			t.Fatalf("pieces of %q join to %q", s, joined)
		}
		var out []byte
		for _, id := range v.Encode(s, true) {
			tok := v.Tokens[id]
			if v.tokenType(id) != TypeNormal {
				out = append(out, tok...)
				continue
			}
			for _, r := range tok {
				out = append(out, runeByte[r])
			}
		}
		if string(out) != s {
			t.Fatalf("%q encodes to tokens spelling %q", s, out)
		}
	})
}
