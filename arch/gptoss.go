package arch

// GPTOSS is gpt-oss-20b and gpt-oss-120b: biased attention projections
// with a learnt attention sink per head, layers alternating between a
// 128-token sliding window and full attention, a biased router (softmax
// over the top-k logits), and experts stored as two stacked tensors per
// layer (gate and up interleaved in one) with biases. The released
// checkpoints keep the expert matrices in MXFP4 (quantization_config
// quant_method "mxfp4"): NAME_blocks and NAME_scales instead of NAME.
var GPTOSS = register(&Family{
	Name:          "gpt_oss",
	Display:       "gpt-oss",
	ModelTypes:    []string{"gpt_oss"},
	Architectures: []string{"GptOssForCausalLM"},
	GGUFArch:      "gpt-oss",
	Router:        RouterTopKSoftmax,
	KV:            gqaKV,
	Parse: func(c *Config) (*Model, error) {
		m := &Model{}
		// GptOssConfig defaults.
		c.common(m, 8, 131072, 1e-5, 150000)
		m.Experts = c.Need("num_local_experts")
		c.topK(m, "num_experts_per_tok", "experts_per_token")
		m.Intermediate = c.Need("intermediate_size")
		m.ExpertIntermediate = m.Intermediate
		m.NormTopK = true
		m.AttentionBias = c.Bool("attention_bias", true)
		m.RouterBias = true
		m.SlidingWindow = c.Int("sliding_window", 128)
		types := c.Strings("layer_types")
		if types == nil {
			c.def("layer_types")
			for l := 0; l < m.Layers; l++ {
				types = append(types, map[bool]string{true: "sliding_attention", false: "full_attention"}[l%2 == 0])
			}
		}
		if c.Err() == nil && len(types) != m.Layers {
			c.fail("layer_types", "has %d entries for %d layers", len(types), m.Layers)
		}
		m.SlidingLayers = make([]bool, len(types))
		for l, t := range types {
			switch t {
			case "sliding_attention":
				m.SlidingLayers[l] = true
			case "full_attention":
			default:
				c.fail("layer_types", "entry %d is %q, not sliding_attention or full_attention", l, t)
			}
		}
		return m, c.Err()
	},
	Tensors: concat(
		[]Tensor{embedding},
		gqaAttention(attnBias, attnBias),
		[]Tensor{
			{Role: "attn_sinks", HF: "model.layers.{L}.self_attn.sinks", GGUF: "blk.{L}.attn_sinks.weight",
				Part: PartAttention, Scope: ScopeLayer, Shape: vec(func(m *Model) int64 { return int64(m.Heads) }), Keys: []string{"num_attention_heads"}},
			router("mlp.router", "num_local_experts"),
			{Role: "router_bias", HF: "model.layers.{L}.mlp.router.bias", GGUF: "blk.{L}.ffn_gate_inp.bias",
				Part: PartRouter, Scope: ScopeLayer, In: moeLayer, Shape: vec(nexp), Keys: []string{"num_local_experts"}},
			// llama.cpp splits gate_up_proj into ffn_gate_exps and ffn_up_exps.
			{Role: "expert_gate_up", HF: "model.layers.{L}.mlp.experts.gate_up_proj",
				Part: PartExperts, Scope: ScopeLayer, In: moeLayer, Packed: PackMXFP4,
				Shape: func(m *Model) []int64 { return []int64{nexp(m), hid(m), 2 * eff(m)} }, Keys: []string{"num_local_experts", "hidden_size", "intermediate_size"}},
			{Role: "expert_gate_up_bias", HF: "model.layers.{L}.mlp.experts.gate_up_proj_bias",
				Part: PartExperts, Scope: ScopeLayer, In: moeLayer,
				Shape: func(m *Model) []int64 { return []int64{nexp(m), 2 * eff(m)} }, Keys: []string{"num_local_experts", "intermediate_size"}},
			{Role: "expert_down", HF: "model.layers.{L}.mlp.experts.down_proj", GGUF: "blk.{L}.ffn_down_exps.weight",
				Part: PartExperts, Scope: ScopeLayer, In: moeLayer, Packed: PackMXFP4,
				Shape: func(m *Model) []int64 { return []int64{nexp(m), eff(m), hid(m)} }, Keys: []string{"num_local_experts", "intermediate_size", "hidden_size"}},
			{Role: "expert_down_bias", HF: "model.layers.{L}.mlp.experts.down_proj_bias", GGUF: "blk.{L}.ffn_down_exps.bias",
				Part: PartExperts, Scope: ScopeLayer, In: moeLayer,
				Shape: func(m *Model) []int64 { return []int64{nexp(m), hid(m)} }, Keys: []string{"num_local_experts", "hidden_size"}},
		},
		llamaNorms(nil),
		[]Tensor{finalNorm, lmHead},
	),
})

// PackedShapes gives the stored shapes of a tensor the checkpoint packs:
// for MXFP4, a logical [..., in, out] matrix is stored transposed as
// NAME_blocks [..., out, in/32, 16] and NAME_scales [..., out, in/32].
func PackedShapes(p Packing, shape []int64) (blocks, scales []int64, ok bool) {
	if p != PackMXFP4 || len(shape) < 2 || shape[len(shape)-2]%32 != 0 {
		return nil, nil, false
	}
	lead := shape[:len(shape)-2]
	in, out := shape[len(shape)-2], shape[len(shape)-1]
	blocks = append(append([]int64{}, lead...), out, in/32, 16)
	scales = append(append([]int64{}, lead...), out, in/32)
	return blocks, scales, true
}
