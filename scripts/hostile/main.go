// Command hostile writes, into the folder given as its argument, the
// hostile inputs whose peak memory the README's safety section reports:
//
//	go run ./scripts/hostile DIR
//	/usr/bin/time -v bin/mxq inspect DIR/gguf-claims-2^33-kvs.gguf
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxq-dev/mxq/internal/hostile"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hostile DIR")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	p := func(name string) string { return filepath.Join(dir, name) }
	shards := func(dir string, tensors int) error {
		if err := os.MkdirAll(p(dir), 0o755); err != nil {
			return err
		}
		for i := range 3 {
			name := fmt.Sprintf("model-%05d-of-00003.safetensors", i+1)
			if err := hostile.SafetensorsZeroTensors(filepath.Join(p(dir), name), fmt.Sprintf("s%d.t", i), tensors); err != nil {
				return err
			}
		}
		return nil
	}
	steps := []func() error{
		// 4 KB on disk, 2^33 key/values claimed in a 128 GiB apparent size.
		func() error { return hostile.GGUFClaimedKVs(p("gguf-claims-2^33-kvs.gguf"), 1<<33, 1<<37) },
		// 9M distinct small key/values, ~200 MB.
		func() error { return hostile.GGUFManyKVs(p("gguf-9m-kvs.gguf"), 9_000_000) },
		// One vocabulary of 4M 16-byte strings, ~100 MB.
		func() error { return hostile.GGUFStringArray(p("gguf-4m-strings.gguf"), 4_000_000, 16) },
		// 1.6M zero-size tensors: a 99 MB header.
		func() error { return hostile.SafetensorsZeroTensors(p("st-99mb-header.safetensors"), "t", 1_600_000) },
		// One tensor with 30M dimensions: a 60 MB header.
		func() error { return hostile.SafetensorsLongShape(p("st-long-shape.safetensors"), 30_000_000) },
		// Three shards of 1M zero-size tensors each (60 MB headers).
		func() error { return shards("st-3-shards-1m-tensors", 1_000_000) },
		// Three shards of 70k zero-size tensors each: each would fit the
		// budget alone, not all three.
		func() error { return shards("st-3-shards-70k-tensors", 70_000) },
		// An index of 1M tensors, 60 MB.
		func() error {
			d := p("st-index-1m")
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			return hostile.Index(filepath.Join(d, "model.safetensors.index.json"), 1_000_000)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
