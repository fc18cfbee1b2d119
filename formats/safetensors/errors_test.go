package safetensors

import (
	"errors"
	"io/fs"
	"testing"
)

func errorsIsFormat(err error) bool { return errors.Is(err, ErrFormat) }

func TestFormatErrorText(t *testing.T) {
	tests := []struct {
		err  *FormatError
		want string
	}{
		{&FormatError{File: "a.safetensors", Offset: 12, Tensor: "w", Msg: "bad"},
			`safetensors: a.safetensors: tensor "w": byte 12: bad`},
		{&FormatError{File: "a.safetensors", Offset: -1, Msg: "bad"},
			`safetensors: a.safetensors: bad`},
		{&FormatError{File: "x", Offset: 0, Tensor: "a\nb", Msg: "two\nlines"},
			`safetensors: x: tensor "a\nb": byte 0: two\nlines`},
		{&FormatError{File: "i.json", Offset: -1, Tensor: "w", Msg: "missing", Err: fs.ErrNotExist},
			`safetensors: i.json: tensor "w": missing: file does not exist`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, ErrFormat) {
			t.Errorf("errors.Is(%q, ErrFormat) = false", tt.want)
		}
	}
	if !errors.Is(tests[3].err, fs.ErrNotExist) {
		t.Error("cause not reachable through errors.Is")
	}
}
