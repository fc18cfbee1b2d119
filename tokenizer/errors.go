package tokenizer

import (
	"errors"
	"fmt"

	"github.com/mxq-dev/mxq/internal/safetext"
)

// ErrFormat is matched (errors.Is) by every error caused by malformed
// tokenizer files.
var ErrFormat = errors.New("malformed tokenizer file")

// ErrUnsupported is matched by errors about valid files this package does not
// convert (for example a Unigram SentencePiece model or a GPT-2 style
// byte-level BPE tokenizer.json).
var ErrUnsupported = errors.New("unsupported tokenizer")

// FormatError describes malformed input. Offset is a byte offset into File
// for binary inputs and -1 where no offset applies (JSON fields are named in
// Key instead).
type FormatError struct {
	File   string
	Offset int64
	Key    string
	Msg    string
}

func (e *FormatError) Error() string {
	s := "tokenizer: "
	if e.File != "" {
		s += e.File + ": "
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf("offset %d: ", e.Offset)
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	// Keys and messages quote text from the file: escape what would break
	// the line or act on the terminal.
	return safetext.Line(s + e.Msg)
}

// Is makes errors.Is(err, ErrFormat) true for every FormatError.
func (e *FormatError) Is(target error) bool { return target == ErrFormat }

func unsupported(file, format string, args ...any) error {
	return fmt.Errorf("tokenizer: %s: %w: %s", file, ErrUnsupported, fmt.Sprintf(format, args...))
}
