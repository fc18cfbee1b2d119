package gguf

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// The two vocabulary files were written by llama.cpp's gguf-py; the
// expected values are those of the Llama-2 SentencePiece and GPT-2 BPE
// vocabularies.
func TestReadVocabFiles(t *testing.T) {
	type token struct {
		id    int
		text  string
		typ   int32
		score float32 // checked only when the file has scores
	}
	tests := []struct {
		file       string
		size       int64
		kvCount    int
		arch       string
		model      string
		pre        string
		nTokens    int
		nMerges    int
		hasScores  bool
		tokens     []token
		uints      map[string]uint64
		bools      map[string]bool
		lastMerge  string
		firstMerge string
	}{
		{
			file: "testdata/ggml-vocab-llama-spm.gguf", size: 723869, kvCount: 22,
			arch: "llama", model: "llama", pre: "default", nTokens: 32000, hasScores: true,
			tokens: []token{
				{0, "<unk>", 2, 0}, {1, "<s>", 3, 0}, {2, "</s>", 3, 0},
				{3, "<0x00>", 6, 0}, {258, "<0xFF>", 6, 0},
				{450, "\u2581The", 1, -191}, {29871, "\u2581", 1, -1e9}, {31999, "\u7ed9", 1, -31740},
			},
			uints: map[string]uint64{
				"llama.block_count": 32, "llama.context_length": 4096, "llama.embedding_length": 4096,
				"llama.feed_forward_length": 11008, "llama.attention.head_count": 32,
				"llama.vocab_size": 32000, "llama.rope.dimension_count": 128, "general.file_type": 1,
				"tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.unknown_token_id": 0,
			},
			bools: map[string]bool{"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_eos_token": false},
		},
		{
			file: "testdata/ggml-vocab-gpt-2.gguf", size: 1766807, kvCount: 16,
			arch: "gpt2", model: "gpt2", pre: "gpt-2", nTokens: 50257, nMerges: 50000,
			tokens: []token{
				{0, "!", 1, 0}, {262, "\u0120the", 1, 0}, {464, "The", 1, 0}, {50256, "<|endoftext|>", 3, 0},
			},
			uints: map[string]uint64{
				"gpt2.block_count": 12, "gpt2.context_length": 1024, "gpt2.embedding_length": 768,
				"tokenizer.ggml.bos_token_id": 50256, "tokenizer.ggml.eos_token_id": 50256,
			},
			firstMerge: "\u0120 t", lastMerge: "\u0120g azed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := Open(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Version != 3 || f.Size != tc.size || len(f.KV) != tc.kvCount || len(f.Tensors) != 0 || f.Alignment != 32 {
				t.Fatalf("version %d size %d kvs %d tensors %d alignment %d", f.Version, f.Size, len(f.KV), len(f.Tensors), f.Alignment)
			}
			if f.KV[0].Key != "general.architecture" {
				t.Errorf("first key %q, want general.architecture (file order)", f.KV[0].Key)
			}
			for key, want := range map[string]string{
				"general.architecture": tc.arch, "tokenizer.ggml.model": tc.model, "tokenizer.ggml.pre": tc.pre,
			} {
				if got, ok := f.String(key); !ok || got != want {
					t.Errorf("%s = %q, %v; want %q", key, got, ok, want)
				}
			}
			for key, want := range tc.uints {
				v, _ := f.Lookup(key)
				if v.Type != TypeUint32 {
					t.Errorf("%s has type %s, gguf-py writes uint32", key, v.Type)
				}
				if got, ok := f.Uint(key); !ok || got != want {
					t.Errorf("%s = %d, %v; want %d", key, got, ok, want)
				}
			}
			for key, want := range tc.bools {
				if got, ok := f.Bool(key); !ok || got != want {
					t.Errorf("%s = %v, %v; want %v", key, got, ok, want)
				}
			}
			if eps, ok := f.Float(tc.arch + ".attention.layer_norm_rms_epsilon"); tc.arch == "llama" && (!ok || float32(eps) != 1e-5) {
				t.Errorf("rms epsilon = %v, %v", eps, ok)
			}

			toks, ok := f.Strings("tokenizer.ggml.tokens")
			if !ok || len(toks) != tc.nTokens {
				t.Fatalf("tokens: %d, %v; want %d", len(toks), ok, tc.nTokens)
			}
			tv, _ := f.Lookup("tokenizer.ggml.token_type")
			types, ok := tv.V.([]int32)
			if !ok || tv.ArrayType != TypeInt32 || len(types) != tc.nTokens {
				t.Fatalf("token_type: %s", tv)
			}
			var scores []float32
			if tc.hasScores {
				sv, _ := f.Lookup("tokenizer.ggml.scores")
				if scores, ok = sv.V.([]float32); !ok || len(scores) != tc.nTokens {
					t.Fatalf("scores: %s", sv)
				}
			} else if _, ok := f.Lookup("tokenizer.ggml.scores"); ok {
				t.Error("unexpected scores")
			}
			for _, want := range tc.tokens {
				if toks[want.id] != want.text || types[want.id] != want.typ {
					t.Errorf("token %d = %q type %d, want %q type %d", want.id, toks[want.id], types[want.id], want.text, want.typ)
				}
				if scores != nil && scores[want.id] != want.score {
					t.Errorf("token %d score %v, want %v", want.id, scores[want.id], want.score)
				}
			}
			merges, _ := f.Strings("tokenizer.ggml.merges")
			if len(merges) != tc.nMerges {
				t.Fatalf("%d merges, want %d", len(merges), tc.nMerges)
			}
			if tc.nMerges > 0 && (merges[0] != tc.firstMerge || merges[len(merges)-1] != tc.lastMerge) {
				t.Errorf("merges %q ... %q", merges[0], merges[len(merges)-1])
			}
		})
	}
}

// Rewriting a real file's metadata must give back its exact header bytes:
// the reader loses nothing and the writer encodes like gguf-py.
func TestRewriteVocabFilesByteIdentical(t *testing.T) {
	for _, name := range []string{"testdata/ggml-vocab-llama-spm.gguf", "testdata/ggml-vocab-gpt-2.gguf"} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		l := mustLayout(t, f.KV, f.Tensors, uint32(f.Alignment))
		got := l.Header()
		// gguf-py leaves off the header padding when there are no tensors.
		if int64(len(got)) != f.DataOffset || string(got[:len(want)]) != string(want) {
			t.Errorf("%s: rewritten header differs (%d bytes, file %d)", name, len(got), len(want))
		}
	}
}

func TestLookupMissingAndWrongType(t *testing.T) {
	f, err := Open("testdata/ggml-vocab-gpt-2.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.Lookup("no.such.key"); ok {
		t.Error("found a missing key")
	}
	if _, ok := f.String("no.such.key"); ok {
		t.Error("String found a missing key")
	}
	if _, ok := f.String("gpt2.block_count"); ok {
		t.Error("String accepted a uint32")
	}
	if n, ok := f.Int("gpt2.block_count"); !ok || n != 12 {
		t.Errorf("Int(gpt2.block_count) = %d, %v", n, ok)
	}
	if _, ok := f.Uint("general.architecture"); ok {
		t.Error("Uint accepted a string")
	}
	if _, ok := f.Strings("tokenizer.ggml.token_type"); ok {
		t.Error("Strings accepted an int32 array")
	}
	if _, ok := f.Tensor("token_embd.weight"); ok {
		t.Error("found a tensor in a vocabulary-only file")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenMissingFile(t *testing.T) {
	_, err := Open("testdata/does-not-exist.gguf")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}

func TestValueAccessors(t *testing.T) {
	tests := []struct {
		v       Value
		u       uint64
		uok     bool
		i       int64
		iok     bool
		f       float64
		fok     bool
		display string
	}{
		{Uint8(7), 7, true, 7, true, 7, true, "7"},
		{Int8(-3), 0, false, -3, true, -3, true, "-3"},
		{Int32(5), 5, true, 5, true, 5, true, "5"},
		{Uint64(1 << 63), 1 << 63, true, 0, false, 1 << 63, true, "9223372036854775808"},
		{Int64(-1), 0, false, -1, true, -1, true, "-1"},
		{Float32(0.1), 0, false, 0, false, float64(float32(0.1)), true, "0.1"},
		{Float64(2.5), 0, false, 0, false, 2.5, true, "2.5"},
		{Bool(true), 0, false, 0, false, 0, false, "true"},
		{String("a\"b"), 0, false, 0, false, 0, false, `"a\"b"`},
		{Array(TypeInt32, []int32{1, 2}), 0, false, 0, false, 0, false, "[2]int32{1, 2}"},
		{Array(TypeString, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}), 0, false, 0, false, 0, false,
			`[9]string{"a", "b", "c", "d", "e", "f", "g", "h", ...}`},
		{Value{Type: TypeUint32, V: int(3)}, 0, false, 0, false, 0, false, "3"}, // mismatched Go type
	}
	for _, tc := range tests {
		u, uok := tc.v.AsUint()
		i, iok := tc.v.AsInt()
		f, fok := tc.v.AsFloat()
		if u != tc.u && tc.uok || uok != tc.uok || i != tc.i && tc.iok || iok != tc.iok || f != tc.f && tc.fok || fok != tc.fok {
			t.Errorf("%s: AsUint %d,%v AsInt %d,%v AsFloat %v,%v", tc.display, u, uok, i, iok, f, fok)
		}
		if got := tc.v.String(); got != tc.display {
			t.Errorf("String() = %s, want %s", got, tc.display)
		}
	}
	if s, ok := String("x").AsString(); !ok || s != "x" {
		t.Error("AsString")
	}
	if _, ok := Uint8(1).AsString(); ok {
		t.Error("AsString of uint8")
	}
	if n := Array(TypeBool, []bool{true}).Len(); n != 1 {
		t.Errorf("Len %d", n)
	}
	if got := ValueType(13).String(); got != "type(13)" {
		t.Errorf("ValueType(13) = %s", got)
	}
}

func TestFormatErrorOneLine(t *testing.T) {
	e := &FormatError{File: "m.gguf", Offset: 12, Key: "a\nb", Msg: "x\ny\x1b]0;t\a"}
	got := e.Error()
	if strings.Contains(got, "\n") || got != `gguf: m.gguf: byte 12: key "a\nb": x\ny\x1b]0;t\a` {
		t.Errorf("%q", got)
	}
	if !errors.Is(e, ErrFormat) || errors.Is(e, ErrUnsupported) {
		t.Error("nil Err must mean ErrFormat")
	}
	u := &FormatError{File: "m.gguf", Offset: -1, Msg: "v9", Err: ErrUnsupported}
	if got := u.Error(); got != "gguf: m.gguf: unsupported: v9" || !errors.Is(u, ErrUnsupported) {
		t.Errorf("%q", got)
	}
}
