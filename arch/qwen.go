package arch

// Qwen3MoE is Qwen3-30B-A3B and Qwen3-235B-A22B: per-head RMS norms on q
// and k, no shared expert, top-k of num_experts with the kept softmax
// weights renormalised when norm_topk_prob. Layers listed in
// mlp_only_layers, or off the decoder_sparse_step grid, have a dense MLP.
var Qwen3MoE = register(&Family{
	Name:          "qwen3_moe",
	Display:       "Qwen3-MoE",
	ModelTypes:    []string{"qwen3_moe"},
	Architectures: []string{"Qwen3MoeForCausalLM"},
	GGUFArch:      "qwen3moe",
	Router:        RouterSoftmaxTopK,
	KV:            gqaKV,
	GGUFKeys:      GGUFKeys{HeadDim: true, ExpertWidth: true},
	GGUFOrder: []string{"embedding", "output_norm", "output",
		"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_k_norm", "attn_q_norm", "ffn_norm",
		"router", "expert_gate", "expert_down", "expert_up", "ffn_gate", "ffn_down", "ffn_up"},
	Converts: true,
	Parse: func(c *Config) (*Model, error) {
		m := &Model{}
		// Qwen3MoeConfig defaults.
		c.common(m, 4, 32768, 1e-6, 1e4)
		m.Experts = c.Need("num_experts")
		c.topK(m, "num_experts_per_tok")
		m.ExpertIntermediate = c.Need("moe_intermediate_size")
		m.NormTopK = c.Bool("norm_topk_prob", false)
		m.AttentionBias = c.Bool("attention_bias", false)
		c.sparseLayers(m)
		c.needDenseWidth(m, 6144)
		return m, c.Err()
	},
	Tensors: concat(
		[]Tensor{embedding},
		gqaAttention(attnBias, attnBias),
		[]Tensor{
			{Role: "attn_q_norm", HF: "model.layers.{L}.self_attn.q_norm.weight", GGUF: "blk.{L}.attn_q_norm.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: vec(func(m *Model) int64 { return int64(m.HeadDim) }), Keys: []string{"head_dim"}},
			{Role: "attn_k_norm", HF: "model.layers.{L}.self_attn.k_norm.weight", GGUF: "blk.{L}.attn_k_norm.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: vec(func(m *Model) int64 { return int64(m.HeadDim) }), Keys: []string{"head_dim"}},
			router("mlp.gate", "num_experts"),
		},
		gatedMLP("model.layers.{L}.mlp.experts.{E}", "expert", "_exps", PartExperts, ScopeExpert, moeLayer, eff, "moe_intermediate_size"),
		gatedMLP("model.layers.{L}.mlp", "ffn", "", PartDenseFFN, ScopeLayer, denseLayer, ffn, "intermediate_size"),
		llamaNorms(nil),
		[]Tensor{finalNorm, lmHead},
	),
})

// Qwen2MoE is Qwen1.5-MoE-A2.7B and Qwen2-57B-A14B: biases on q, k and v,
// and besides the routed experts one shared expert per layer whose output
// a sigmoid gate (shared_expert_gate, one row) scales.
var Qwen2MoE = register(&Family{
	Name:          "qwen2_moe",
	Display:       "Qwen2-MoE",
	ModelTypes:    []string{"qwen2_moe"},
	Architectures: []string{"Qwen2MoeForCausalLM"},
	GGUFArch:      "qwen2moe",
	Router:        RouterSoftmaxTopK,
	KV:            gqaKV,
	Parse: func(c *Config) (*Model, error) {
		m := &Model{}
		// Qwen2MoeConfig defaults.
		c.common(m, 16, 32768, 1e-6, 1e4)
		m.Experts = c.Need("num_experts")
		c.topK(m, "num_experts_per_tok")
		m.ExpertIntermediate = c.Need("moe_intermediate_size")
		m.SharedIntermediate = c.Need("shared_expert_intermediate_size")
		m.SharedExperts, m.SharedExpertGate = 1, true
		m.NormTopK = c.Bool("norm_topk_prob", false)
		m.QKVBias = c.Bool("qkv_bias", true)
		c.sparseLayers(m)
		c.needDenseWidth(m, 5632)
		return m, c.Err()
	},
	Tensors: concat(
		[]Tensor{embedding},
		gqaAttention(func(m *Model) bool { return m.QKVBias }, never),
		[]Tensor{router("mlp.gate", "num_experts")},
		gatedMLP("model.layers.{L}.mlp.experts.{E}", "expert", "_exps", PartExperts, ScopeExpert, moeLayer, eff, "moe_intermediate_size"),
		gatedMLP("model.layers.{L}.mlp.shared_expert", "shexp", "_shexp", PartSharedExpert, ScopeLayer, moeLayer, sff, "shared_expert_intermediate_size"),
		[]Tensor{{Role: "shexp_gate_inp", HF: "model.layers.{L}.mlp.shared_expert_gate.weight", GGUF: "blk.{L}.ffn_gate_inp_shexp.weight",
			Part: PartSharedExpert, Scope: ScopeLayer, In: moeLayer, Shape: mat(func(*Model) int64 { return 1 }, hid), Keys: []string{"hidden_size"}}},
		gatedMLP("model.layers.{L}.mlp", "ffn", "", PartDenseFFN, ScopeLayer, denseLayer, ffn, "intermediate_size"),
		llamaNorms(nil),
		[]Tensor{finalNorm, lmHead},
	),
})
