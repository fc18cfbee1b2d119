package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/internal/synth"
	"github.com/mxq-dev/mxq/model"
)

const committed = "../../testdata/tiny-qwen3-moe"

// The committed checkpoint is what this program writes: the same
// config.json and, with seed 3, the same model.safetensors bytes.
func TestCommittedCheckpointIsReproducible(t *testing.T) {
	cfgFile, err := os.ReadFile(filepath.Join(committed, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(cfgFile) != configJSON {
		t.Fatal("committed config.json differs from the generator's")
	}
	cfg, err := model.ParseConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "model.safetensors")
	if err := synth.WriteWeights(context.Background(), out, cfg, 3); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(committed, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("committed model.safetensors differs from the generator's output with seed 3")
	}
}
