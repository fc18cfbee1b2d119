package model

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/formats/gguf"
)

// ConfigFromGGUF rebuilds a Config from the metadata keys that llama.cpp's
// converter writes from config.json for the converting families of
// package arch (Mixtral, Mistral and Llama all convert to "llama";
// Qwen3-MoE to "qwen3moe"). Notes lists figures that rest on an
// assumption because a key was absent.
func ConfigFromGGUF(f *gguf.File) (cfg *Config, notes []string, err error) {
	archName, ok := f.String("general.architecture")
	if !ok {
		return nil, nil, fmt.Errorf("%s: no general.architecture", f.Name)
	}
	fam, ok := arch.ByGGUF(archName)
	if !ok {
		return nil, nil, fmt.Errorf("%s: architecture %q is not supported (%s)", f.Name, archName, ggufArchs())
	}
	if !fam.Converts {
		return nil, nil, fmt.Errorf("%s: architecture %q is %s, known to inspect; not supported here (%s)", f.Name, archName, fam.Display, ggufArchs())
	}
	key := func(k string) string { return archName + "." + k }
	u := func(k string, required bool) (int, error) {
		v, ok := f.Lookup(key(k))
		if !ok {
			if required {
				return 0, fmt.Errorf("inspect: %s: missing %s", f.Name, key(k))
			}
			return 0, nil
		}
		n, ok := v.AsUint()
		if !ok {
			// Some models store per-layer arrays; a constant array is fine.
			n, ok = firstOfUniformArray(v)
			if !ok {
				return 0, fmt.Errorf("inspect: %s: %s is not a non-negative integer or a uniform array", f.Name, key(k))
			}
		}
		if n > 1<<31 {
			return 0, fmt.Errorf("inspect: %s: %s = %d is out of range", f.Name, key(k), n)
		}
		return int(n), nil
	}
	c := &Config{BOSTokenID: -1, EOSTokenID: -1}
	if c.NumLayers, err = u("block_count", true); err != nil {
		return nil, nil, err
	}
	if c.HiddenSize, err = u("embedding_length", true); err != nil {
		return nil, nil, err
	}
	if c.IntermediateSize, err = u("feed_forward_length", true); err != nil {
		return nil, nil, err
	}
	if c.NumHeads, err = u("attention.head_count", true); err != nil {
		return nil, nil, err
	}
	if c.NumKVHeads, err = u("attention.head_count_kv", false); err != nil {
		return nil, nil, err
	}
	if c.NumKVHeads == 0 {
		c.NumKVHeads = c.NumHeads
	}
	if c.NumExperts, err = u("expert_count", false); err != nil {
		return nil, nil, err
	}
	if c.ExpertsPerToken, err = u("expert_used_count", false); err != nil {
		return nil, nil, err
	}
	if err := familyFromGGUF(c, fam, u); err != nil {
		return nil, nil, err
	}
	if c.MaxPositionEmbeddings, err = u("context_length", false); err != nil {
		return nil, nil, err
	}
	if c.MaxPositionEmbeddings == 0 {
		c.MaxPositionEmbeddings = 4096
		notes = append(notes, key("context_length")+" is absent; 4096 tokens assumed")
	}
	if c.HeadDim, err = u("attention.key_length", false); err != nil {
		return nil, nil, err
	}
	if c.HeadDim == 0 && c.NumHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	// The embedding's shape is the truth for weights; a vocabulary-only
	// file has just the key or the token list.
	if t, ok := f.Tensor("token_embd.weight"); ok && len(t.Dims) == 2 && t.Dims[1] < 1<<31 {
		c.VocabSize = int(t.Dims[1])
	} else if c.VocabSize, err = u("vocab_size", false); err != nil {
		return nil, nil, err
	}
	if v, ok := f.Lookup("tokenizer.ggml.tokens"); ok && c.VocabSize == 0 && v.Type == gguf.TypeArray {
		c.VocabSize = v.Len()
	}
	if x, ok := metaFloat(f, key("rope.freq_base")); ok {
		c.RopeTheta = x
	} else {
		c.RopeTheta = 10000
	}
	if x, ok := metaFloat(f, key("attention.layer_norm_rms_epsilon")); ok {
		c.RMSNormEps = x
	} else {
		c.RMSNormEps = 1e-5
		notes = append(notes, key("attention.layer_norm_rms_epsilon")+" is absent; 1e-5 assumed")
	}
	if c.SlidingWindow, err = u("attention.sliding_window", false); err != nil {
		return nil, nil, err
	}
	if _, ok := f.Tensor("output.weight"); !ok {
		c.TieWordEmbeddings = true
	}
	if v, ok := f.Uint("tokenizer.ggml.bos_token_id"); ok && v < 1<<31 {
		c.BOSTokenID = int(v)
	}
	if v, ok := f.Uint("tokenizer.ggml.eos_token_id"); ok && v < 1<<31 {
		c.EOSTokenID = int(v)
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: metadata describes no valid model: %w", f.Name, err)
	}
	return c, notes, nil
}

// familyFromGGUF completes a Config of family fam read from GGUF metadata:
// its names, the expert width its keys carry apart and its per-head q/k
// norms. The variants of a family that share one GGUF architecture
// (Mixtral, Mistral and Llama in "llama") are told apart by their
// experts: the first variant has them, the last is dense. llama.cpp
// always renormalises the kept routing weights of these architectures.
func familyFromGGUF(c *Config, fam *arch.Family, u func(k string, required bool) (int, error)) error {
	c.Family, c.ModelType, c.Architecture = familyName(fam), fam.ModelTypes[0], fam.Architectures[0]
	if v, ok := fam.VariantFor(c.NumExperts > 1); ok {
		if c.NumExperts <= 1 {
			c.NumExperts, c.ExpertsPerToken = 1, 1
		}
		c.ModelType, c.Architecture = v.ModelType, v.Architecture
	}
	c.QKNorm = fam.Has("attn_q_norm")
	if fam.GGUFKeys.ExpertWidth {
		var err error
		c.ExpertIntermediateSize, err = u("expert_feed_forward_length", true)
		return err
	}
	return nil
}

// ggufArchs says which GGUF architecture each converting family has.
func ggufArchs() string {
	var parts []string
	for _, f := range arch.Converting() {
		parts = append(parts, fmt.Sprintf("%s converts to %q", f.Display, f.GGUFArch))
	}
	return strings.Join(parts, ", ")
}

func firstOfUniformArray(v gguf.Value) (uint64, bool) {
	if v.Type != gguf.TypeArray || v.Len() == 0 {
		return 0, false
	}
	var first uint64
	for i := 0; i < v.Len(); i++ {
		var x uint64
		switch s := v.V.(type) {
		case []uint32:
			x = uint64(s[i])
		case []int32:
			if s[i] < 0 {
				return 0, false
			}
			x = uint64(s[i])
		case []uint64:
			x = s[i]
		default:
			return 0, false
		}
		if i == 0 {
			first = x
		} else if x != first {
			return 0, false
		}
	}
	return first, true
}

// metaFloat reads a numeric value. The converter stores floats as FLOAT32;
// those are widened through their shortest decimal form, so 1e-5 reads
// back as 1e-5, as in config.json, rather than 9.99999974738e-06.
func metaFloat(f *gguf.File, key string) (float64, bool) {
	v, ok := f.Lookup(key)
	if !ok {
		return 0, false
	}
	x, ok := v.AsFloat()
	if !ok {
		return 0, false
	}
	if v.Type == gguf.TypeFloat32 {
		x, _ = strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
	}
	return x, true
}
