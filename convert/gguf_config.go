package convert

import (
	"fmt"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/model"
)

// configFromGGUF rebuilds the model config from a llama-architecture GGUF's
// llama.* metadata.
func configFromGGUF(f *gguf.File) (*model.Config, error) {
	arch, _ := f.String("general.architecture")
	if arch != "llama" {
		return nil, fmt.Errorf("general.architecture %q is not supported (want \"llama\", which Mixtral, Mistral and Llama use)", arch)
	}
	var missing []string
	get := func(key string) int {
		v, ok := f.Uint("llama." + key)
		if !ok {
			missing = append(missing, "llama."+key)
		}
		return int(v)
	}
	getOpt := func(key string, def int) int {
		if v, ok := f.Uint("llama." + key); ok {
			return int(v)
		}
		return def
	}
	c := &model.Config{Architecture: "MixtralForCausalLM", ModelType: "mixtral"}
	c.NumLayers = get("block_count")
	c.HiddenSize = get("embedding_length")
	c.IntermediateSize = get("feed_forward_length")
	c.NumHeads = get("attention.head_count")
	c.MaxPositionEmbeddings = get("context_length")
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing metadata %v", missing)
	}
	c.NumKVHeads = getOpt("attention.head_count_kv", c.NumHeads)
	c.HeadDim = getOpt("attention.key_length", c.HiddenSize/c.NumHeads)
	c.NumExperts = getOpt("expert_count", 1)
	c.ExpertsPerToken = getOpt("expert_used_count", 1)
	if c.NumExperts <= 1 {
		c.Architecture, c.ModelType = "LlamaForCausalLM", "llama"
		c.NumExperts, c.ExpertsPerToken = 1, 1
	}
	c.VocabSize = getOpt("vocab_size", 0)
	if c.VocabSize == 0 {
		if toks, ok := f.Strings("tokenizer.ggml.tokens"); ok {
			c.VocabSize = len(toks)
		}
	}
	if c.VocabSize == 0 {
		if t, ok := f.Tensor("token_embd.weight"); ok && len(t.Dims) == 2 {
			c.VocabSize = int(t.Dims[1])
		}
	}
	c.RopeTheta, c.RMSNormEps = 10000, 1e-5
	if v, ok := f.Lookup("llama.rope.freq_base"); ok {
		if x, ok := v.AsFloat(); ok {
			c.RopeTheta = x
		}
	}
	if v, ok := f.Lookup("llama.attention.layer_norm_rms_epsilon"); ok {
		if x, ok := v.AsFloat(); ok {
			c.RMSNormEps = x
		}
	}
	if _, ok := f.Tensor("output.weight"); !ok {
		c.TieWordEmbeddings = true
	}
	if v, ok := f.Uint("tokenizer.ggml.bos_token_id"); ok {
		c.BOSTokenID = int(v)
	}
	if v, ok := f.Uint("tokenizer.ggml.eos_token_id"); ok {
		c.EOSTokenID = int(v)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}
