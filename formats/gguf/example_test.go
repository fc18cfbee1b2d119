package gguf_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
)

func ExampleOpen() {
	f, err := gguf.Open("testdata/ggml-vocab-llama-spm.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	arch, _ := f.String("general.architecture")
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	bos, _ := f.Uint("tokenizer.ggml.bos_token_id")
	fmt.Println(arch, len(tokens), tokens[bos])
	v, _ := f.Lookup("tokenizer.ggml.token_type")
	fmt.Println(v)
	// Output:
	// llama 32000 <s>
	// [32000]int32{2, 3, 3, 6, 6, 6, 6, 6, ...}
}

func ExampleNewLayout() {
	kv := []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: "llama.block_count", Value: gguf.Uint32(1)},
		{Key: "tokenizer.ggml.tokens", Value: gguf.Array(gguf.TypeString, []string{"<unk>", "<s>", "</s>"})},
	}
	tensors := []gguf.TensorInfo{
		{Name: "output_norm.weight", Dims: []uint64{4}, Type: ggml.F32},
		{Name: "output.weight", Dims: []uint64{32, 3}, Type: ggml.Q8_0},
	}
	l, err := gguf.NewLayout(kv, tensors, gguf.DefaultAlignment)
	if err != nil {
		log.Fatal(err)
	}
	for i, t := range l.Tensors() {
		fmt.Printf("%s: %d bytes at %d\n", t.Name, t.Size(), l.TensorOffset(i))
	}
	fmt.Println("file size", l.Size())

	dir, err := os.MkdirTemp("", "gguf-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.gguf")
	err = gguf.WriteFile(path, l, func(i int, t gguf.TensorInfo, w io.Writer) error {
		_, err := w.Write(make([]byte, t.Size())) // the quantized data would go here
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fmt.Println(len(f.KV), "keys,", len(f.Tensors), "tensors, data at", f.DataOffset)
	// Output:
	// output_norm.weight: 16 bytes at 288
	// output.weight: 102 bytes at 320
	// file size 448
	// 3 keys, 2 tensors, data at 288
}

// The parallel way the quantize pipeline writes a laid-out file.
func ExampleLayout_TensorOffset() {
	l, err := gguf.NewLayout(nil, []gguf.TensorInfo{
		{Name: "a", Dims: []uint64{3}, Type: ggml.F32},
		{Name: "b", Dims: []uint64{5}, Type: ggml.F16},
	}, gguf.DefaultAlignment)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.CreateTemp("", "parallel-*.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// Truncate zero-fills, so all padding is in place before any write.
	if err := f.Truncate(l.Size()); err != nil {
		log.Fatal(err)
	}
	if _, err := f.WriteAt(l.Header(), 0); err != nil {
		log.Fatal(err)
	}
	for i, t := range l.Tensors() { // each iteration may run in its own goroutine
		if _, err := f.WriteAt(make([]byte, t.Size()), l.TensorOffset(i)); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(l.DataOffset(), l.TensorOffset(1), l.Size())
	// Output: 96 128 160
}
