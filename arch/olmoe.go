package arch

// OLMoE is OLMoE-1B-7B: RMS norms over the whole q and k projections (not
// per head), 64 experts top-8, no shared expert.
var OLMoE = register(&Family{
	Name:          "olmoe",
	Display:       "OLMoE",
	ModelTypes:    []string{"olmoe"},
	Architectures: []string{"OlmoeForCausalLM"},
	GGUFArch:      "olmoe",
	Router:        RouterSoftmaxTopK,
	KV:            gqaKV,
	Parse: func(c *Config) (*Model, error) {
		m := &Model{}
		// OlmoeConfig defaults.
		c.common(m, 0, 4096, 1e-5, 1e4)
		m.Experts = c.Need("num_experts")
		c.topK(m, "num_experts_per_tok")
		m.ExpertIntermediate = c.Need("intermediate_size")
		m.Intermediate = m.ExpertIntermediate
		m.NormTopK = c.Bool("norm_topk_prob", false)
		m.AttentionBias = c.Bool("attention_bias", false)
		return m, c.Err()
	},
	Tensors: concat(
		[]Tensor{embedding},
		gqaAttention(attnBias, attnBias),
		[]Tensor{
			{Role: "attn_q_norm", HF: "model.layers.{L}.self_attn.q_norm.weight", GGUF: "blk.{L}.attn_q_norm.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: vec(qRows), Keys: []string{"num_attention_heads", "head_dim"}},
			{Role: "attn_k_norm", HF: "model.layers.{L}.self_attn.k_norm.weight", GGUF: "blk.{L}.attn_k_norm.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: vec(kvRows), Keys: []string{"num_key_value_heads", "head_dim"}},
			router("mlp.gate", "num_experts"),
		},
		gatedMLP("model.layers.{L}.mlp.experts.{E}", "expert", "_exps", PartExperts, ScopeExpert, moeLayer, eff, "intermediate_size"),
		llamaNorms(nil),
		[]Tensor{finalNorm, lmHead},
	),
})
