package model

import (
	"fmt"
	"slices"
)

// ExpectedTensor is one tensor a checkpoint of a given Config must hold.
// For HFTensors, Shape is the row-major (PyTorch) shape; for GGUFTensors it
// is GGUF's ne order, fastest-varying dimension first.
type ExpectedTensor struct {
	Name  string     `json:"name"`
	Shape []int64    `json:"shape"`
	Role  TensorRole `json:"role"`
}

// NumElements is the product of the shape.
func (e ExpectedTensor) NumElements() int64 {
	n := int64(1)
	for _, d := range e.Shape {
		n *= d
	}
	return n
}

// has reports whether the model described by c carries tensors of spec s.
func (c *Config) has(s *roleSpec) bool {
	switch s.block {
	case blockMoE:
		if !c.IsMoE() {
			return false
		}
	case blockDense:
		if c.IsMoE() {
			return false
		}
	case blockQKNorm:
		if !c.QKNorm {
			return false
		}
	}
	return s.role != RoleOutput || !c.TieWordEmbeddings
}

// HFTensors lists every tensor of the Hugging Face checkpoint in state_dict
// order: the embedding, then per layer the attention projections, the
// router and each expert's w1, w2, w3 (or the dense MLP), the two norms,
// then the final norm and lm_head (absent when embeddings are tied).
func (c *Config) HFTensors() []ExpectedTensor {
	var out []ExpectedTensor
	add := func(s *roleSpec, layer, expert int) {
		tr := TensorRole{Role: s.role, Layer: layer, Expert: expert}
		out = append(out, ExpectedTensor{Name: format(c.hfTemplate(s), tr), Shape: s.shape(c), Role: tr})
	}
	for i := range roleSpecs {
		if s := &roleSpecs[i]; s.scope == scopeModel && !s.tail && c.has(s) {
			add(s, -1, -1)
		}
	}
	for l := 0; l < c.NumLayers; l++ {
		for i := 0; i < len(roleSpecs); i++ {
			s := &roleSpecs[i]
			if s.scope == scopeModel || !c.has(s) {
				continue
			}
			if s.scope == scopeLayer {
				add(s, l, -1)
				continue
			}
			// Experts form a ModuleList: all of expert 0's matrices, then
			// expert 1's, ...
			j := i
			for j < len(roleSpecs) && roleSpecs[j].scope == scopeExpert {
				j++
			}
			for e := 0; e < c.NumExperts; e++ {
				for k := i; k < j; k++ {
					add(&roleSpecs[k], l, e)
				}
			}
			i = j - 1
		}
	}
	for i := range roleSpecs {
		if s := &roleSpecs[i]; s.scope == scopeModel && s.tail && c.has(s) {
			add(s, -1, -1)
		}
	}
	return out
}

// GGUFTensors lists every tensor llama.cpp expects in a GGUF of this model,
// in the order its loader creates them (the family's GGUFOrder), with ne
// dimensions: HF shapes reversed, and the expert count appended for the
// merged expert tensors.
func (c *Config) GGUFTensors() []ExpectedTensor {
	var out []ExpectedTensor
	add := func(s *roleSpec, layer int) {
		tr := TensorRole{Role: s.role, Layer: layer, Expert: -1}
		dims := s.shape(c)
		slices.Reverse(dims)
		if s.scope == scopeExpert {
			tr.Expert = AllExperts
			dims = append(dims, int64(c.NumExperts))
		}
		out = append(out, ExpectedTensor{Name: format(s.gguf, tr), Shape: dims, Role: tr})
	}
	order := c.ggufOrder()
	for _, s := range order {
		if s.scope == scopeModel && c.has(s) {
			add(s, -1)
		}
	}
	for l := 0; l < c.NumLayers; l++ {
		for _, s := range order {
			if s.scope != scopeModel && c.has(s) {
				add(s, l)
			}
		}
	}
	return out
}

// ggufOrder is c's family's GGUFOrder as roles.
func (c *Config) ggufOrder() []*roleSpec {
	names := c.ArchFamily().GGUFOrder
	out := make([]*roleSpec, 0, len(names))
	for _, n := range names {
		if s := specNamed(n); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// ExpectedHF returns the Hugging Face shape a tensor of role r must have
// under c, and false when c has no such tensor.
func (c *Config) ExpectedHF(r TensorRole) ([]int64, bool) {
	s := spec(r.Role)
	if s == nil || !c.has(s) || !indicesFit(s, r) || r.Expert == AllExperts {
		return nil, false
	}
	if r.Layer >= c.NumLayers || r.Expert >= c.NumExperts {
		return nil, false
	}
	return s.shape(c), true
}

// ExpectedGGUF returns the GGUF ne dimensions a tensor of role r must have
// under c (merged experts for AllExperts, one expert's matrix for a
// per-expert tensor), and false when c has no such tensor.
func (c *Config) ExpectedGGUF(r TensorRole) ([]int64, bool) {
	s := spec(r.Role)
	if s == nil || !c.has(s) || !indicesFit(s, r) {
		return nil, false
	}
	if r.Layer >= c.NumLayers || r.Expert >= c.NumExperts {
		return nil, false
	}
	dims := s.shape(c)
	slices.Reverse(dims)
	if r.Expert == AllExperts {
		dims = append(dims, int64(c.NumExperts))
	}
	return dims, true
}

// Limits well above any published model (DeepSeek-V3: 61 layers × 256
// experts; Kimi K2: 384 experts), so that Validate can reject nonsense
// before callers list tensors.
const (
	maxLayers  = 4096
	maxExperts = 4096
)

// Validate checks that a Config built by hand (or inferred from tensors or
// GGUF metadata) describes a consistent model.
func (c *Config) Validate() error {
	pos := []struct {
		key string
		v   int
	}{
		{"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumLayers}, {"num_attention_heads", c.NumHeads},
		{"num_key_value_heads", c.NumKVHeads}, {"head_dim", c.HeadDim},
		{"num_local_experts", c.NumExperts}, {"num_experts_per_tok", c.ExpertsPerToken},
		{"vocab_size", c.VocabSize}, {"max_position_embeddings", c.MaxPositionEmbeddings},
	}
	for _, p := range pos {
		if p.v <= 0 {
			return &ConfigError{Key: p.key, Msg: fmt.Sprintf("must be positive, got %d", p.v)}
		}
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return &ConfigError{Key: "num_key_value_heads", Msg: fmt.Sprintf("%d does not divide num_attention_heads %d", c.NumKVHeads, c.NumHeads)}
	}
	if c.ExpertsPerToken > c.NumExperts {
		return &ConfigError{Key: "num_experts_per_tok", Msg: fmt.Sprintf("%d exceeds num_local_experts %d", c.ExpertsPerToken, c.NumExperts)}
	}
	// Bounds far above any real model keep the arithmetic of callers
	// (tensor lists, byte counts) clear of overflow and huge allocations.
	if c.NumLayers > maxLayers || c.NumExperts > maxExperts || int64(c.NumLayers)*int64(c.NumExperts) > 1<<16 {
		return &ConfigError{Key: "num_hidden_layers", Msg: fmt.Sprintf("%d layers × %d experts is implausibly large", c.NumLayers, c.NumExperts)}
	}
	for _, p := range pos {
		if p.key != "num_hidden_layers" && p.key != "num_local_experts" && p.key != "num_experts_per_tok" && p.v > 1<<30 {
			return &ConfigError{Key: p.key, Msg: fmt.Sprintf("%d is implausibly large", p.v)}
		}
	}
	if est := c.estimateParams(); est > 1e15 {
		return &ConfigError{Key: "hidden_size", Msg: fmt.Sprintf("describes about %.3g parameters, implausibly many", est)}
	}
	return nil
}

// estimateParams is the parameter count in floating point, safe from
// overflow, for plausibility checks.
func (c *Config) estimateParams() float64 {
	h, v := float64(c.HiddenSize), float64(c.VocabSize)
	attn := h*float64(c.NumHeads*c.HeadDim)*2 + h*float64(c.NumKVHeads)*float64(c.HeadDim)*2
	ffn := 3 * h * float64(c.IntermediateSize) * float64(c.NumExperts)
	return 2*v*h + float64(c.NumLayers)*(attn+ffn+float64(c.NumExperts)*h+2*h) + h
}
