package gguf

import (
	"bytes"
	"os"
	"testing"
)

func BenchmarkNewFileGPT2Vocab(b *testing.B) {
	data, err := os.ReadFile("testdata/ggml-vocab-gpt-2.gguf")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := NewFile(bytes.NewReader(data), int64(len(data)), "gpt2"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewLayoutGPT2Vocab(b *testing.B) {
	f, err := Open("testdata/ggml-vocab-gpt-2.gguf")
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.SetBytes(f.Size)
	for b.Loop() {
		if _, err := NewLayout(f.KV, f.Tensors, uint32(f.Alignment)); err != nil {
			b.Fatal(err)
		}
	}
}
