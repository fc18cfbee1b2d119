package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// badFile is malformed input and the words its error must contain.
type badFile struct {
	name string
	data []byte
	want []string
}

func lengthOnly(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

func badFiles() []badFile {
	two := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[%s]}}`
	sub := func(s, offs string) string { return string(bytes.Replace([]byte(s), []byte("%s"), []byte(offs), 1)) }
	data := make([]byte, 16)
	return []badFile{
		{"truncated file", []byte{1, 0, 0, 0, 0}, []string{"5 bytes", "too short"}},
		{"header length past end", lengthOnly(100, `{}`), []string{"header length 100", "past the end", "byte 0"}},
		{"header too large", lengthOnly(100_000_001, `{}`), []string{"100000001", "limit"}},
		{"header length overflows", lengthOnly(1<<63+5, `{}`), []string{"limit"}},
		{"invalid JSON", rawFile(`{"a":{"dtype":"F32",}`, nil), []string{"invalid JSON"}},
		{"truncated JSON", rawFile(`{"a":{"dtype"`, nil), []string{"invalid JSON"}},
		{"not an object", rawFile(`[1,2]`, nil), []string{"start with '{'"}},
		{"leading space", rawFile(` {}`, nil), []string{"start with '{'", "byte 8"}},
		{"invalid UTF-8", rawFile("{\"w\xff\":{}}", nil), []string{"UTF-8", "byte 11"}},
		{"trailing garbage after JSON", rawFile(`{} x`, nil), []string{"trailing data", "byte 11"}},
		{"two JSON objects", rawFile(`{}{}`, nil), []string{"trailing data"}},
		{"metadata not strings", rawFile(`{"__metadata__":{"format":"pt","step":1}}`, nil), []string{"__metadata__", `"step"`, "must be a string", "byte 46"}},
		{"metadata not an object", rawFile(`{"__metadata__":"pt"}`, nil), []string{"__metadata__", "object"}},
		{"duplicate tensor", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, data[:2]), []string{`tensor "a"`, "duplicate"}},
		{"duplicate field", rawFile(`{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, data[:1]), []string{`tensor "a"`, "duplicate field", "dtype", "byte 27"}},
		{"missing field", rawFile(`{"a":{"dtype":"U8","shape":[1]}}`, nil), []string{`tensor "a"`, "missing field data_offsets"}},
		{"tensor entry not an object", rawFile(`{"a":[1]}`, nil), []string{`tensor "a"`, "object"}},
		{"unknown dtype", rawFile(`{"w":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[0,1]}}`, data[:1]), []string{`tensor "w"`, `unknown dtype "F8_E8M0"`}},
		{"dtype not a string", rawFile(`{"w":{"dtype":4,"shape":[1],"data_offsets":[0,1]}}`, data[:1]), []string{`tensor "w"`, "dtype must be a string"}},
		{"negative dim", rawFile(`{"w":{"dtype":"U8","shape":[2,-1],"data_offsets":[0,0]}}`, nil), []string{`tensor "w"`, "negative dimension -1"}},
		{"fractional dim", rawFile(`{"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}`, data[:1]), []string{`tensor "w"`, "shape must be an array of integers"}},
		{"null shape", rawFile(`{"w":{"dtype":"U8","shape":null,"data_offsets":[0,1]}}`, data[:1]), []string{`tensor "w"`, "shape"}},
		{"three offsets", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, data[:1]), []string{`tensor "w"`, "two integers"}},
		{"shape overflows", rawFile(`{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, data[:8]), []string{`tensor "w"`, "overflows"}},
		{"shape times dtype mismatch", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, data[:4]), []string{`tensor "w"`, "4 bytes", "needs 8", "byte 55"}},
		{"first tensor not at 0", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, data[:2]), []string{`tensor "w"`, "begin at 0"}},
		{"overlapping offsets", rawFile(sub(two, "6,10"), data[:10]), []string{`tensor "b"`, "overlap", `"a"`}},
		{"gap between tensors", rawFile(sub(two, "10,14"), data[:14]), []string{`tensor "b"`, "2-byte gap", `"a"`}},
		{"offsets out of order (end before begin)", rawFile(sub(two, "8,4"), data[:12]), []string{`tensor "b"`, "[8, 4]", "end before"}},
		{"negative offset", rawFile(sub(two, "-4,8"), data[:12]), []string{`tensor "b"`, "negative data offset"}},
		{"data past end of file", rawFile(sub(two, "8,12"), data[:10]), []string{`tensor "b"`, "past the end"}},
		{"unpaired surrogate escape", rawFile(`{"w\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, data[:1]), []string{"unpaired surrogate", "byte 11"}},
		{"control character in name", rawFile("{\"w\x01\":{}}", nil), []string{"control character", "byte 11"}},
		{"invalid escape", rawFile(`{"w\x":{}}`, nil), []string{`invalid escape "\\x"`, "byte 11"}},
		{"NUL padding", rawFile("{}\x00\x00\x00\x00\x00\x00", nil), []string{"trailing data", "byte 10"}},
		{"deep nesting in unknown field", rawFile(`{"w":{"x":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}}`, nil), []string{`tensor "w"`, "nesting deeper than 128"}},
		{"number with leading zero", rawFile(`{"w":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}}`, data[:1]), []string{`tensor "w"`, "invalid JSON"}},
		{"offset beyond int64", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,9223372036854775808]}}`, data[:1]), []string{`tensor "w"`, "two integers"}},
		{"trailing bytes after last tensor", rawFile(sub(two, "8,12"), make([]byte, 13)), []string{"1 trailing byte(s)"}},
	}
}

func TestNewFileBadInput(t *testing.T) {
	for _, tt := range badFiles() {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFile(bytes.NewReader(tt.data), int64(len(tt.data)), "bad.safetensors")
			if f != nil {
				t.Errorf("got a File with an error")
			}
			checkFormatErr(t, err, append([]string{"bad.safetensors"}, tt.want...)...)
		})
	}
}

// failingReaderAt fails every read, as a broken disk would.
type failingReaderAt struct{}

var errDisk = errors.New("disk on fire")

func (failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errDisk }

// I/O errors are reported as such, not as format errors.
func TestNewFileIOError(t *testing.T) {
	_, err := NewFile(failingReaderAt{}, 100, "io.safetensors")
	if !errors.Is(err, errDisk) || errors.Is(err, ErrFormat) || !contains(err.Error(), "io.safetensors") {
		t.Errorf("got %v", err)
	}
	// A reader shorter than the size it claims.
	data := rawFile(`{}`, nil)
	_, err = NewFile(bytes.NewReader(data[:6]), int64(len(data)), "short.safetensors")
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v", err)
	}
}
