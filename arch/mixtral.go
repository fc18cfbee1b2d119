package arch

// Mixtral, and the dense Mistral and Llama it shares its layout with: one
// tensor table where the sparse block replaces the MLP when there are
// experts, each as wide as intermediate_size (ExpertIntermediate). llama.cpp converts all three to its "llama" architecture.
var Mixtral = register(&Family{
	Name:          "mixtral",
	Display:       "Mixtral/Mistral/Llama",
	ModelTypes:    []string{"mixtral", "mistral", "llama"},
	Architectures: []string{"MixtralForCausalLM", "MistralForCausalLM", "LlamaForCausalLM"},
	GGUFArch:      "llama",
	Router:        RouterSoftmaxTopK,
	Parse:         parseMixtral,
	KV:            gqaKV,
	PermuteQK:     true,
	GGUFKeys:      GGUFKeys{VocabRopeDim: true},
	GGUFOrder: []string{"embedding", "output_norm", "output",
		"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
		"router", "expert_gate", "expert_down", "expert_up", "ffn_gate", "ffn_down", "ffn_up"},
	Converts: true,
	Variants: mixtralVariants,
	Tensors: concat(
		[]Tensor{
			embedding,
			{Role: "attn_q", HF: "model.layers.{L}.self_attn.q_proj.weight", GGUF: "blk.{L}.attn_q.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: mat(qRows, hid), Keys: []string{"num_attention_heads", "head_dim", "hidden_size"}},
			{Role: "attn_k", HF: "model.layers.{L}.self_attn.k_proj.weight", GGUF: "blk.{L}.attn_k.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: mat(kvRows, hid), Keys: []string{"num_key_value_heads", "head_dim", "hidden_size"}},
			{Role: "attn_v", HF: "model.layers.{L}.self_attn.v_proj.weight", GGUF: "blk.{L}.attn_v.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: mat(kvRows, hid), Keys: []string{"num_key_value_heads", "head_dim", "hidden_size"}},
			{Role: "attn_output", HF: "model.layers.{L}.self_attn.o_proj.weight", GGUF: "blk.{L}.attn_output.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: mat(hid, qRows), Keys: []string{"num_attention_heads", "head_dim", "hidden_size"}},
			{Role: "router", HF: "model.layers.{L}.block_sparse_moe.gate.weight", GGUF: "blk.{L}.ffn_gate_inp.weight",
				Part: PartRouter, Scope: ScopeLayer, In: moeLayer, Shape: mat(nexp, hid), Keys: []string{"num_local_experts", "hidden_size"}},
			{Role: "expert_gate", HF: "model.layers.{L}.block_sparse_moe.experts.{E}.w1.weight", GGUF: "blk.{L}.ffn_gate_exps.weight", GGUFSplit: "blk.{L}.ffn_gate.{E}.weight",
				Part: PartExperts, Scope: ScopeExpert, In: moeLayer, Shape: mat(eff, hid), Keys: []string{"intermediate_size", "hidden_size"}},
			{Role: "expert_down", HF: "model.layers.{L}.block_sparse_moe.experts.{E}.w2.weight", GGUF: "blk.{L}.ffn_down_exps.weight", GGUFSplit: "blk.{L}.ffn_down.{E}.weight",
				Part: PartExperts, Scope: ScopeExpert, In: moeLayer, Shape: mat(hid, eff), Keys: []string{"intermediate_size", "hidden_size"}},
			{Role: "expert_up", HF: "model.layers.{L}.block_sparse_moe.experts.{E}.w3.weight", GGUF: "blk.{L}.ffn_up_exps.weight", GGUFSplit: "blk.{L}.ffn_up.{E}.weight",
				Part: PartExperts, Scope: ScopeExpert, In: moeLayer, Shape: mat(eff, hid), Keys: []string{"intermediate_size", "hidden_size"}},
		},
		gatedMLP("model.layers.{L}.mlp", "ffn", "", PartDenseFFN, ScopeLayer, denseLayer, ffn, "intermediate_size"),
		llamaNorms(nil),
		[]Tensor{finalNorm, lmHead},
	),
})

// mixtralVariants are transformers' MixtralConfig, MistralConfig and
// LlamaConfig defaults.
var mixtralVariants = []Variant{
	{ModelType: "mixtral", Architecture: "MixtralForCausalLM", MaxPositions: 4096 * 32, NormEps: 1e-5, RopeTheta: 1e6, KVHeads: 8, Experts: 8, TopK: 2},
	{ModelType: "mistral", Architecture: "MistralForCausalLM", MaxPositions: 4096 * 32, NormEps: 1e-6, RopeTheta: 1e4, KVHeads: 8, TopK: 2, SlidingWindow: 4096},
	{ModelType: "llama", Architecture: "LlamaForCausalLM", MaxPositions: 2048, NormEps: 1e-6, RopeTheta: 1e4},
}

func parseMixtral(c *Config) (*Model, error) {
	m := &Model{}
	d, _ := variant(mixtralVariants, c.String("model_type"), firstOf(c.Strings("architectures")))
	c.common(m, d.KVHeads, d.MaxPositions, d.NormEps, d.RopeTheta)
	m.Intermediate = c.Need("intermediate_size")
	m.Experts = c.Int("num_local_experts", d.Experts)
	if m.Experts == 0 && firstOf(c.Strings("architectures")) == "MixtralForCausalLM" {
		m.Experts = moeVariant().Experts // MixtralForCausalLM always builds a sparse block
	}
	if m.Experts <= 1 {
		m.Experts, m.TopK = 1, 1
	} else {
		m.TopK = c.Int("num_experts_per_tok", moeVariant().TopK)
		if m.TopK <= 0 || m.TopK > m.Experts {
			c.fail("num_experts_per_tok", "%d is not between 1 and num_local_experts %d", m.TopK, m.Experts)
		}
		m.ExpertIntermediate = m.Intermediate
		m.NormTopK = true
	}
	if c.Has("sliding_window") {
		m.SlidingWindow = c.Int("sliding_window", 0)
	} else {
		m.SlidingWindow = c.Int("sliding_window", d.SlidingWindow)
	}
	return m, c.Err()
}

// moeVariant is the variant with experts (the first), whose expert
// defaults apply to any of the family's configs with experts.
func moeVariant() Variant { return mixtralVariants[0] }

func firstOf(s []string) string {
	for _, a := range s {
		if _, ok := ByArchitecture(a); ok {
			return a
		}
	}
	return ""
}
