// Package synth writes synthetic Hugging Face checkpoints with seeded random
// weights, for benchmarks and tests that need realistic shapes and values
// (weights ~ N(0, 0.02), norms near 1) at sizes no fixture could ship.
package synth

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
)

// Config is the config.json of a synthetic Mixtral.
type Config struct {
	Hidden, Intermediate, Layers, Heads, KVHeads, Experts, TopK, Vocab int
}

// FullWidthLayer is one Mixtral-8x7B decoder layer with its real widths.
var FullWidthLayer = Config{Hidden: 4096, Intermediate: 14336, Layers: 1, Heads: 32, KVHeads: 8, Experts: 8, TopK: 2, Vocab: 32000}

func (c Config) json() map[string]any {
	return map[string]any{
		"architectures":           []string{"MixtralForCausalLM"},
		"model_type":              "mixtral",
		"hidden_size":             c.Hidden,
		"intermediate_size":       c.Intermediate,
		"num_hidden_layers":       c.Layers,
		"num_attention_heads":     c.Heads,
		"num_key_value_heads":     c.KVHeads,
		"num_local_experts":       c.Experts,
		"num_experts_per_tok":     c.TopK,
		"vocab_size":              c.Vocab,
		"max_position_embeddings": 32768,
		"rms_norm_eps":            1e-5,
		"rope_theta":              1e6,
		"sliding_window":          nil,
		"tie_word_embeddings":     false,
		"torch_dtype":             "bfloat16",
		"bos_token_id":            1,
		"eos_token_id":            2,
	}
}

// Write creates dir holding config.json, model.safetensors with BF16 weights
// drawn from a PCG generator seeded with seed, and copies of the tokenizer
// files found in tokenizerDir (tokenizer.model, tokenizer.json,
// tokenizer_config.json), which must cover the vocabulary. A cancelled ctx
// stops it with ctx's error.
func Write(ctx context.Context, dir string, c Config, tokenizerDir string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(c.json(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		return err
	}
	cfg, err := model.ParseConfig(raw)
	if err != nil {
		return err
	}
	for _, name := range []string{"tokenizer.model", "tokenizer.json", "tokenizer_config.json"} {
		if err := copyFile(filepath.Join(tokenizerDir, name), filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return WriteWeights(ctx, filepath.Join(dir, "model.safetensors"), cfg, seed)
}

// WriteWeights writes every tensor cfg implies, in BF16, to one safetensors
// file at path: weights ~ N(0, 0.02), norms 1 ± 0.1, drawn in state_dict
// order from a PCG generator seeded with seed.
func WriteWeights(ctx context.Context, path string, cfg *model.Config, seed uint64) error {
	expected := cfg.HFTensors()
	infos := make([]safetensors.TensorInfo, len(expected))
	std := map[string]float64{}
	for i, e := range expected {
		infos[i] = safetensors.TensorInfo{Name: e.Name, DType: "BF16", Shape: e.Shape}
		std[e.Name] = 0.02
		if len(e.Shape) == 1 {
			std[e.Name] = -1 // norms: 1 ± 0.1
		}
	}
	layout, err := safetensors.NewLayout(map[string]string{"format": "pt"}, infos)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x73796e7468))
	return safetensors.WriteFile(path, layout, func(name string, w io.Writer) error {
		t, _ := layout.Lookup(name)
		return writeBF16(ctx, w, t.NumElements(), std[name], rng)
	})
}

func writeBF16(ctx context.Context, w io.Writer, n int64, std float64, rng *rand.Rand) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var b [2]byte
	for i := range n {
		// A full-width checkpoint takes minutes; stay interruptible.
		if i%(1<<20) == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		v := rng.NormFloat64() * std
		if std < 0 {
			v = 1 + rng.NormFloat64()*0.1
		}
		binary.LittleEndian.PutUint16(b[:], uint16(math.Float32bits(float32(v))>>16))
		if _, err := bw.Write(b[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return nil
}
