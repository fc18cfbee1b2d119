package inspect

import (
	"fmt"
	"path/filepath"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

func loadGGUF(path string) (*loaded, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return fromGGUF(f, path)
}

// fromGGUF reads the config and tensor list of an opened GGUF.
func fromGGUF(f *gguf.File, path string) (*loaded, error) {
	cfg, notes, err := configFromGGUF(f)
	if err != nil {
		return nil, err
	}
	l := &loaded{
		source: Source{Path: path, Kind: "gguf"},
		cfg:    cfg, origin: "gguf metadata", gguf: true, notes: notes,
	}
	sum := &CheckpointSummary{
		Format: "gguf", Files: 1, FileBytes: f.Size, IndexTotalSize: -1,
		GGUFVersion: f.Version, GGUFAlignment: f.Alignment,
	}
	if ft, ok := f.Uint("general.file_type"); ok {
		sum.GGUFFileType = ggml.FileType(ft).String()
	}
	base := filepath.Base(path)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		shape := make([]int64, len(t.Dims))
		for j, d := range t.Dims {
			shape[j] = int64(d)
		}
		l.tensors = append(l.tensors, tensorRec{
			Name: t.Name, Role: model.ClassifyGGUF(t.Name), Shape: shape, DType: t.Type.String(),
			Params: int64(t.NumElements()), Bytes: int64(t.Size()), File: base,
		})
	}
	l.ckpt = sum
	return l, nil
}

// configFromGGUF rebuilds a Config from llama.cpp's metadata keys, which
// convert_hf_to_gguf.py writes from config.json.
func configFromGGUF(f *gguf.File) (*model.Config, []Finding, error) {
	arch, ok := f.String("general.architecture")
	if !ok {
		return nil, nil, fmt.Errorf("inspect: %s: no general.architecture", f.Name)
	}
	if arch != "llama" {
		return nil, nil, fmt.Errorf("inspect: %s: architecture %q is not supported (Mixtral, Mistral and Llama convert to \"llama\")", f.Name, arch)
	}
	key := func(k string) string { return arch + "." + k }
	var notes []Finding
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
	c := &model.Config{ModelType: "llama", BOSTokenID: -1, EOSTokenID: -1}
	var err error
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
	if c.NumExperts <= 1 {
		c.NumExperts, c.ExpertsPerToken = 1, 1
		c.Architecture = "LlamaForCausalLM"
	} else {
		c.Architecture, c.ModelType = "MixtralForCausalLM", "mixtral"
	}
	if c.MaxPositionEmbeddings, err = u("context_length", false); err != nil {
		return nil, nil, err
	}
	if c.MaxPositionEmbeddings == 0 {
		c.MaxPositionEmbeddings = 4096
		notes = append(notes, Finding{SeverityWarning, "context-unknown", key("context_length") + " is absent; memory figures assume 4096 tokens"})
	}
	if c.HeadDim, err = u("attention.key_length", false); err != nil {
		return nil, nil, err
	}
	if c.HeadDim == 0 && c.NumHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if v, ok := f.Lookup("tokenizer.ggml.tokens"); ok && v.Type == gguf.TypeArray && v.Len() > 0 {
		c.VocabSize = v.Len()
	} else if c.VocabSize, err = u("vocab_size", false); err != nil {
		return nil, nil, err
	}
	if c.VocabSize == 0 {
		if t, ok := f.Tensor("token_embd.weight"); ok && len(t.Dims) == 2 && t.Dims[1] < 1<<31 {
			c.VocabSize = int(t.Dims[1])
		}
	}
	if x, ok := f.Float(key("rope.freq_base")); ok {
		c.RopeTheta = x
	} else {
		c.RopeTheta = 10000
	}
	if x, ok := f.Float(key("attention.layer_norm_rms_epsilon")); ok {
		c.RMSNormEps = x
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
		return nil, nil, fmt.Errorf("inspect: %s: metadata describes no valid model: %w", f.Name, err)
	}
	return c, notes, nil
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
