package safetensors

import (
	"errors"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/internal/safetext"
)

// ErrFormat is matched (via errors.Is) by every error that reports a
// malformed file, header or index.
var ErrFormat = errors.New("safetensors: invalid format")

// ErrUnsupported is matched by errors for well-formed input that this
// package cannot handle, such as decoding an integer tensor to float32.
var ErrUnsupported = errors.New("safetensors: unsupported")

// FormatError describes malformed input. Offset is an absolute byte offset
// in File, negative when no position applies. For header problems it points
// at the offending JSON (for layout problems, the tensor's data_offsets);
// for checkpoint consistency problems, at the tensor's data.
type FormatError struct {
	File   string
	Offset int64
	Tensor string
	Msg    string
	Err    error // underlying cause, if any (for example fs.ErrNotExist)
}

// Error formats the error on one line:
// "safetensors: FILE: tensor "NAME": byte OFFSET: MSG".
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("safetensors: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
		b.WriteString(": ")
	}
	if e.Offset >= 0 {
		b.WriteString("byte ")
		b.WriteString(strconv.FormatInt(e.Offset, 10))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	// Control characters anywhere (a shard name in a message, a path) are
	// escaped: one line, and nothing that acts on the terminal.
	return safetext.Line(b.String())
}

// Unwrap lets errors.Is match both ErrFormat and the underlying cause.
func (e *FormatError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrFormat, e.Err}
	}
	return []error{ErrFormat}
}

func formatErr(file string, offset int64, tensor, msg string) *FormatError {
	return &FormatError{File: file, Offset: offset, Tensor: tensor, Msg: msg}
}
