package arch

// PhiMoE is Phi-3.5-MoE: Mixtral's sparse block and names, but LayerNorms
// with biases, biased attention projections and LM head, and the
// sparsemixer router.
var PhiMoE = register(&Family{
	Name:          "phimoe",
	Display:       "Phi-3.5-MoE",
	ModelTypes:    []string{"phimoe"},
	Architectures: []string{"PhiMoEForCausalLM", "PhimoeForCausalLM"},
	GGUFArch:      "phimoe",
	Router:        RouterSparseMixer,
	KV:            gqaKV,
	Parse: func(c *Config) (*Model, error) {
		m := &Model{}
		// PhimoeConfig defaults.
		c.common(m, 8, 4096*32, 1e-5, 1e6)
		m.Experts = c.Need("num_local_experts")
		c.topK(m, "num_experts_per_tok")
		m.Intermediate = c.Need("intermediate_size")
		m.ExpertIntermediate = m.Intermediate
		m.AttentionBias = c.Bool("attention_bias", false)
		m.OutputBias = c.Bool("lm_head_bias", false)
		m.NormBias = true
		m.SlidingWindow = c.Int("sliding_window", 0)
		return m, c.Err()
	},
	Tensors: concat(
		[]Tensor{embedding},
		gqaAttention(attnBias, attnBias),
		[]Tensor{router("block_sparse_moe.gate", "num_local_experts")},
		[]Tensor{
			{Role: "expert_gate", HF: "model.layers.{L}.block_sparse_moe.experts.{E}.w1.weight", GGUF: "blk.{L}.ffn_gate_exps.weight",
				Part: PartExperts, Scope: ScopeExpert, In: moeLayer, Shape: mat(eff, hid), Keys: []string{"intermediate_size", "hidden_size"}},
			{Role: "expert_down", HF: "model.layers.{L}.block_sparse_moe.experts.{E}.w2.weight", GGUF: "blk.{L}.ffn_down_exps.weight",
				Part: PartExperts, Scope: ScopeExpert, In: moeLayer, Shape: mat(hid, eff), Keys: []string{"intermediate_size", "hidden_size"}},
			{Role: "expert_up", HF: "model.layers.{L}.block_sparse_moe.experts.{E}.w3.weight", GGUF: "blk.{L}.ffn_up_exps.weight",
				Part: PartExperts, Scope: ScopeExpert, In: moeLayer, Shape: mat(eff, hid), Keys: []string{"intermediate_size", "hidden_size"}},
		},
		withBiases(llamaNorms(nil)),
		withBiases([]Tensor{finalNorm}),
		[]Tensor{lmHead, {Role: "output_bias", HF: "lm_head.bias", GGUF: "output.bias", Part: PartOutput, Scope: ScopeModel, Tail: true,
			In: func(m *Model, _ int) bool { return m.OutputBias && !m.TieEmbeddings }, Shape: vec(func(m *Model) int64 { return int64(m.Vocab) }), Keys: []string{"vocab_size"}}},
	),
})

// withBiases follows each LayerNorm weight with its bias.
func withBiases(norms []Tensor) []Tensor {
	var out []Tensor
	for _, t := range norms {
		b := t
		b.Role += "_bias"
		b.HF = t.HF[:len(t.HF)-len("weight")] + "bias"
		b.GGUF = t.GGUF[:len(t.GGUF)-len("weight")] + "bias"
		out = append(out, t, b)
	}
	return out
}
