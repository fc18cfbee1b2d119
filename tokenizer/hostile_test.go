package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/internal/testutil"
)

// JSON whose values would cost far more decoded than its size (a two-byte
// "0," becomes a boxed number) is refused before it is decoded.
func TestJSONValueCount(t *testing.T) {
	zeros := func(n int) string { return strings.Repeat("0,", n-1) + "0" }
	cases := []struct {
		file, content string
	}{
		{"tokenizer_config.json", `{"x":[` + zeros(maxGenericValues+1) + `]}`},
		{"special_tokens_map.json", `{"x":{"a":[` + zeros(maxGenericValues) + `]}}`},
		{"tokenizer.json", `{"normalizer":{"x":[` + zeros(maxGenericValues+1) + `]},"model":{"type":"BPE","vocab":{}}}`},
		{"tokenizer.json", `{"added_tokens":[` + strings.Repeat("{},", maxGenericValues/2) + `{}],"model":{"type":"BPE"}}`},
	}
	for _, c := range cases {
		dir := testutil.CopyTiny(t, "tokenizer.model")
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir, 0)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "JSON values") || !strings.Contains(err.Error(), c.file) {
			t.Errorf("%s: err = %v, want the JSON value limit", c.file, err)
		}
	}
	// Strings may hold any number of brackets and commas.
	if err := checkJSONValues("x.json", []byte(`{"a":"`+strings.Repeat(`,[{:\"`, maxGenericValues)+`"}`), 2); err != nil {
		t.Error(err)
	}
}
