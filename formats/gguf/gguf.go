// Package gguf reads and writes GGUF files, the container llama.cpp loads.
//
// The reader (NewFile, Open) decodes the header (metadata key-value pairs
// and tensor infos) through a buffered reader over an io.ReaderAt and never
// loads tensor data; Section gives a reader for one tensor's bytes. The
// writer computes a complete Layout (header bytes and every tensor's offset)
// before any tensor data exists, so tensor blobs can be written in any order,
// concurrently, at fixed offsets.
//
// Both sides apply the same rules, those of ggml's own loader (gguf.cpp),
// which are stricter than the published specification: general.alignment
// must be a UINT32 power of two, tensor data must be contiguous in tensor
// info order with every blob padded to the alignment, arrays may not nest,
// keys and tensor names must be unique, names are at most 63 bytes, and a
// tensor has at most 4 dimensions whose first is a whole number of blocks.
package gguf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/internal/safetext"
)

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// Version is the GGUF version the writer produces. The reader accepts
// versions 2 and 3, whose layouts are identical.
const Version = 3

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that overrides DefaultAlignment.
const KeyAlignment = "general.alignment"

// Limits enforced by ggml's loader.
const (
	MaxNameLen   = 63      // bytes in a tensor name (GGML_MAX_NAME - 1 for the NUL)
	MaxDims      = 4       // GGML_MAX_DIMS
	MaxStringLen = 1 << 30 // GGUF_MAX_STRING_LENGTH
	MaxArrayLen  = 1 << 30 // GGUF_MAX_ARRAY_ELEMENTS
)

const (
	minVersion     = 2
	bigEndianMagic = "FUGG" // the magic as a big-endian writer stores it
)

var (
	// ErrFormat marks a file (or a layout) that breaks the GGUF rules.
	ErrFormat = errors.New("invalid GGUF")
	// ErrUnsupported marks a well-formed file this package does not read:
	// another version, big-endian byte order, or a pre-GGUF ggml file.
	ErrUnsupported = errors.New("unsupported GGUF")
)

// FormatError describes what is wrong with a file and where. Offset is the
// byte offset in the file (-1 when unknown, as for a Layout). Key or Tensor
// names the metadata key or tensor concerned, if any. Err is ErrFormat or
// ErrUnsupported; a nil Err counts as ErrFormat.
type FormatError struct {
	File   string
	Offset int64
	Key    string
	Tensor string
	Msg    string
	Err    error
}

// Error renders the error on one line; names are quoted and any other
// control character escaped, so that a hostile file cannot break the line
// or drive the terminal.
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("gguf: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Offset >= 0 {
		b.WriteString("byte ")
		b.WriteString(strconv.FormatInt(e.Offset, 10))
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %q: ", e.Tensor)
	}
	if errors.Is(e.Unwrap(), ErrUnsupported) {
		b.WriteString("unsupported: ")
	}
	b.WriteString(e.Msg)
	return safetext.Line(b.String())
}

// Unwrap returns ErrFormat or ErrUnsupported.
func (e *FormatError) Unwrap() error {
	if e.Err == nil {
		return ErrFormat
	}
	return e.Err
}

// pad rounds n up to a multiple of align, a power of two.
func pad(n, align uint64) uint64 {
	return (n + align - 1) &^ (align - 1)
}
