package tokenizer

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseModel checks that no input panics ParseModel and that every model
// it accepts survives a Marshal/ParseModel round trip.
func FuzzParseModel(f *testing.F) {
	tiny := readFile(f, filepath.Join(tinyDir, "tokenizer.model"))
	f.Add(tiny)
	f.Add(tiny[:len(tiny)/3])
	f.Add(readFile(f, filepath.Join(mixtralDir, "tokenizer.model"))[:8192])
	f.Add([]byte(minimal().bytes(2, msg(nil).varint(35, 1).varint(43, 1<<64-1)).bytes(3, msg(nil).bytes(1, []byte("identity")))))
	f.Add([]byte("\x0a\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseModel(data, "fuzz.model")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tokenizer: fuzz.model: ") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		again, err := ParseModel(m.Marshal(), "again")
		if err != nil {
			t.Fatalf("re-parse of a marshalled model: %v", err)
		}
		m.Normalizer.HasCharsMap = false // Marshal does not keep the charsmap
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the model")
		}
	})
}

// FuzzEncode checks that Encode never panics and loses nothing: the pieces
// of the ids it returns, with byte tokens turned back into bytes and "▁" into
// spaces, spell the input with its dummy-prefix space.
func FuzzEncode(f *testing.F) {
	v := mustLoad(f, tinyDir, 1024)
	for _, s := range []string{"", " ", "Hello world!", "  a\tb\n", "<s>x</s>", "ünï 中文 🤖", "\xff\xfe", "▁▁x", "[PAD5]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids := v.Encode(text, true)
		if len(ids) == 0 || ids[0] != 1 {
			t.Fatalf("Encode(%q) = %v, want BOS first", text, ids)
		}
		var b strings.Builder
		for _, id := range ids[1:] {
			if id < 0 || id >= len(v.Tokens) {
				t.Fatalf("id %d out of range", id)
			}
			if v.tokenType(id) == TypeByte {
				b.WriteByte(parseBytePiece(t, v.Tokens[id]))
				continue
			}
			b.WriteString(v.Tokens[id])
		}
		want := ""
		if text != "" {
			want = "▁" + strings.ReplaceAll(text, " ", "▁")
		}
		if b.String() != want {
			t.Fatalf("Encode(%q) spells %q, want %q", text, b.String(), want)
		}
		if utf8.ValidString(text) && len(ids)-1 > len(want) {
			t.Fatalf("Encode(%q): %d tokens for %d bytes", text, len(ids)-1, len(want))
		}
	})
}

func parseBytePiece(t *testing.T, s string) byte {
	for b := 0; b < 256; b++ {
		if BytePiece(byte(b)) == s {
			return byte(b)
		}
	}
	t.Fatalf("%q is not a byte piece", s)
	return 0
}
