package gguf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

// FuzzNewFile checks that no input panics or escapes the error types, and
// that reader and writer apply the same rules: whatever the reader accepts,
// NewLayout accepts and encodes back to the same header bytes.
func FuzzNewFile(f *testing.F) {
	for _, name := range []string{"testdata/ggml-vocab-llama-spm.gguf", "testdata/ggml-vocab-gpt-2.gguf"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, n := range []int{3, 7, 23, 24, 40, 100, 1000, len(b) / 2, len(b) - 1} {
			f.Add(b[:n])
		}
	}
	// A small file with tensors of several types.
	l, err := NewLayout(allKVs(), testTensors(), DefaultAlignment)
	if err != nil {
		f.Fatal(err)
	}
	small := l.Header()
	for i, ti := range l.Tensors() {
		small = append(small, blob(i, ti.Size())...)
		small = append(small, make([]byte, pad(ti.Size(), DefaultAlignment)-ti.Size())...)
	}
	f.Add(small)
	base, _ := baseFile().bytes()
	f.Add(base)
	for _, c := range badCases() {
		b, _ := c.input()
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := NewFile(bytes.NewReader(b), int64(len(b)), "fuzz.gguf")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !(errors.Is(err, ErrFormat) || errors.Is(err, ErrUnsupported)) {
				t.Fatalf("error is not a FormatError: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(b)) {
				t.Fatalf("offset %d outside the %d-byte input: %v", fe.Offset, len(b), err)
			}
			return
		}
		l, err := NewLayout(file.KV, file.Tensors, uint32(file.Alignment))
		if err != nil {
			t.Fatalf("reader accepted what the writer refuses: %v", err)
		}
		if l.DataOffset() != file.DataOffset || !tensorsEqual(l.Tensors(), file.Tensors) {
			t.Fatalf("layout differs: data %d vs %d", l.DataOffset(), file.DataOffset)
		}
		// Same bytes after the version (the input may be version 2).
		if h := l.Header(); !bytes.Equal(h[8:l.infoEnd], b[8:l.infoEnd]) {
			t.Fatalf("re-encoded header differs from the input")
		}
		for i := range file.Tensors {
			n, err := io.Copy(io.Discard, file.Section(&file.Tensors[i]))
			if err != nil || uint64(n) != file.Tensors[i].Size() {
				t.Fatalf("tensor %d: read %d bytes of %d: %v", i, n, file.Tensors[i].Size(), err)
			}
		}
	})
}

func tensorsEqual(a, b []TensorInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Type != b[i].Type || a[i].Offset != b[i].Offset ||
			!slices.Equal(a[i].Dims, b[i].Dims) {
			return false
		}
	}
	return true
}
