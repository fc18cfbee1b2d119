package safetext

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"model.layers.0.mlp.experts.3.w1.weight", "model.layers.0.mlp.experts.3.w1.weight"},
		{"blk.0.ffn_gate_exps.weight", "blk.0.ffn_gate_exps.weight"},
		{"tokenizer.ggml.tokens", "tokenizer.ggml.tokens"},
		{"héllo ▁world 日本", "héllo ▁world 日本"},
		{`back\slash`, `back\slash`},
		{"", ""},
		{"a\x1b]0;pwned\x07b", `"a\x1b]0;pwned\ab"`},
		{"x\x1b[31mred", `"x\x1b[31mred"`},
		{"fake\nmxq: error", `"fake\nmxq: error"`},
		{"tab\there", `"tab\there"`},
		{"\u202eevil", `"\u202eevil"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{"del\x7f", `"del\x7f"`},
	} {
		if got := Name(tc.in); got != tc.want {
			t.Errorf("Name(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`gguf: m.gguf: byte 8: key "a": duplicate key`, `gguf: m.gguf: byte 8: key "a": duplicate key`},
		{"tensor x\x1b[2J: bad\nmxq: fake", `tensor x\x1b[2J: bad\nmxq: fake`},
		{"\u202e\xfe", `\u202e\xfe`},
		{"ünïcode ok", "ünïcode ok"},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// Whatever the input, both print valid UTF-8 made of characters that print
// as themselves.
func FuzzSafe(f *testing.F) {
	f.Add("a\x1b[31m\n\xff\u202e")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Name(s), Line(s)} {
			if !printable(out) {
				t.Fatalf("%q printed as %q", s, out)
			}
		}
	})
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	plain := errors.New("tensor a.weight: bad")
	if Error(plain) != plain {
		t.Error("a safe error was wrapped")
	}
	hostile := fmt.Errorf("tensor %s: %w", "a\x1b[2J\nb", io.ErrUnexpectedEOF)
	got := Error(hostile)
	if got.Error() != `tensor a\x1b[2J\nb: unexpected EOF` || !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Errorf("%q, Is EOF %v", got, errors.Is(got, io.ErrUnexpectedEOF))
	}
}

func TestArgs(t *testing.T) {
	args := []any{"ok", 3, "a\nb"}
	got := fmt.Sprintf("%s %d %s", Args(args)...)
	if got != `ok 3 "a\nb"` || args[2] != "a\nb" {
		t.Errorf("%q; args %q", got, args)
	}
}
