package convert

import (
	"encoding/json"
	"fmt"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/tokenizer"
)

// hfFromGGUF undoes llama.cpp's conversion: each Hugging Face tensor reads
// the GGUF tensor of its role, an expert's matrix is slab e of the merged
// blk.N.ffn_*_exps tensor (or the older per-expert blk.N.ffn_*.E tensor),
// and q_proj/k_proj rows are read through the inverse of the RoPE
// permutation. Rows are dequantized from whatever type the GGUF stores.
func hfFromGGUF(src *Source) ([]hfTensor, error) {
	f, cfg := src.gg, src.Config
	if len(f.Tensors) == 0 {
		return nil, fmt.Errorf("%s: the file holds no tensors (a vocabulary-only GGUF): there is no model to convert", f.Name)
	}
	used := map[string]bool{}
	slabs := map[string][]*matrix{}
	// matrices returns the tensor of role r split into slabs, or nil when
	// the file has no such tensor.
	matrices := func(r model.TensorRole) ([]*matrix, error) {
		name := model.GGUFName(r)
		t, ok := f.Tensor(name)
		if !ok {
			return nil, nil
		}
		if ms, ok := slabs[name]; ok {
			return ms, nil
		}
		want, _ := cfg.ExpectedGGUF(r)
		if !dimsEqual(t.Dims, want) {
			return nil, fmt.Errorf("%s: tensor %s: dims %v, but the metadata implies %v", f.Name, name, t.Dims, want)
		}
		ms, err := ggufMatrices(f, t)
		if err != nil {
			return nil, err
		}
		used[name] = true
		slabs[name] = ms
		return ms, nil
	}
	var out []hfTensor
	for _, e := range cfg.HFTensors() {
		r := e.Role
		slab := 0
		if r.Role.PerExpert() {
			r.Expert, slab = model.AllExperts, e.Role.Expert
		}
		ms, err := matrices(r)
		if err == nil && ms == nil && r.Expert == model.AllExperts {
			r, slab = e.Role, 0
			ms, err = matrices(r)
		}
		if err != nil {
			return nil, err
		}
		if ms == nil {
			return nil, fmt.Errorf("%s: tensor %s (for %s) is missing", f.Name, model.GGUFName(r), e.Name)
		}
		p := part{src: ms[slab]}
		switch e.Role.Role {
		case model.RoleAttnQ, model.RoleAttnK:
			if cfg.PermutesQK() {
				p.headDim, p.reorder = cfg.HeadDim, unpermutedSource
			}
		}
		out = append(out, hfTensor{ExpectedTensor: e, src: p})
	}
	var names []string
	for _, t := range f.Tensors {
		names = append(names, t.Name)
	}
	if err := checkAllUsed(f.Name, cfg.GGUFArch(), names, used); err != nil {
		return nil, err
	}
	return out, nil
}

func dimsEqual(a []uint64, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if int64(a[i]) != b[i] {
			return false
		}
	}
	return true
}

// vocabFromGGUF reads the tokenizer a GGUF carries.
func vocabFromGGUF(f *gguf.File) (*tokenizer.Vocab, error) {
	v, err := tokenizer.FromGGUFMetadata(func(key string) (any, bool) {
		val, ok := f.Lookup(key)
		if !ok {
			return nil, false
		}
		return val.V, true
	})
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer: %w", f.Name, err)
	}
	return v, nil
}

// hfConfigFromGGUF is the config.json of a model rebuilt from GGUF
// metadata, with the keys transformers writes for MixtralConfig
// (LlamaConfig for a dense model) and its defaults for what GGUF does not
// record. Floats are spelled as Python prints them.
func hfConfigFromGGUF(cfg *model.Config, dtype safetensors.DType) map[string]any {
	if cfg.Family == model.FamilyQwen3MoE {
		return qwen3MoEConfigFromGGUF(cfg, dtype)
	}
	m := map[string]any{
		"architectures":           []any{cfg.Architecture},
		"model_type":              cfg.ModelType,
		"hidden_size":             cfg.HiddenSize,
		"intermediate_size":       cfg.IntermediateSize,
		"num_hidden_layers":       cfg.NumLayers,
		"num_attention_heads":     cfg.NumHeads,
		"num_key_value_heads":     cfg.NumKVHeads,
		"vocab_size":              cfg.VocabSize,
		"max_position_embeddings": cfg.MaxPositionEmbeddings,
		"rms_norm_eps":            pyFloat(cfg.RMSNormEps, 32),
		"rope_theta":              pyFloat(cfg.RopeTheta, 32),
		"tie_word_embeddings":     cfg.TieWordEmbeddings,
		"hidden_act":              "silu",
		"bos_token_id":            cfg.BOSTokenID,
		"eos_token_id":            cfg.EOSTokenID,
		"torch_dtype":             torchDType(dtype),
		"use_cache":               true,
		"attention_dropout":       json.Number("0.0"),
		"initializer_range":       json.Number("0.02"),
	}
	if cfg.HeadDim*cfg.NumHeads != cfg.HiddenSize {
		m["head_dim"] = cfg.HeadDim
	}
	if cfg.IsMoE() {
		m["num_local_experts"] = cfg.NumExperts
		m["num_experts_per_tok"] = cfg.ExpertsPerToken
		m["sliding_window"] = nil
		m["output_router_logits"] = false
		m["router_aux_loss_coef"] = json.Number("0.001")
	} else {
		m["attention_bias"] = false
		m["mlp_bias"] = false
	}
	return m
}

// generationConfig is the generation_config.json transformers derives
// from a model config: the special token ids.
func generationConfig(v *tokenizer.Vocab, cfg *model.Config) map[string]any {
	m := map[string]any{"bos_token_id": cfg.BOSTokenID, "eos_token_id": cfg.EOSTokenID}
	if v.BOS >= 0 {
		m["bos_token_id"] = v.BOS
	}
	if v.EOS >= 0 {
		m["eos_token_id"] = v.EOS
	}
	return m
}
