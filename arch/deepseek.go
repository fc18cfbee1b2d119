package arch

// DeepSeek-V2 and V3 (and R1, which is V3) share multi-head latent
// attention, fine-grained routed experts with always-on shared experts,
// and dense first layers. V3 adds the sigmoid router's per-expert
// correction bias and ships multi-token-prediction (MTP) modules after the
// main layers: each a full decoder layer plus its own embedding, two norms,
// a projection of [embedding; hidden] and an LM head.
var (
	DeepSeekV2 = register(&Family{
		Name:          "deepseek_v2",
		Display:       "DeepSeek-V2",
		ModelTypes:    []string{"deepseek_v2"},
		Architectures: []string{"DeepseekV2ForCausalLM"},
		GGUFArch:      "deepseek2",
		Router:        RouterGroupLimited,
		KV:            mlaKV,
		Parse:         func(c *Config) (*Model, error) { return parseDeepSeek(c, "greedy") },
		Tensors:       deepSeekTensors,
	})
	DeepSeekV3 = register(&Family{
		Name:          "deepseek_v3",
		Display:       "DeepSeek-V3/R1",
		ModelTypes:    []string{"deepseek_v3"},
		Architectures: []string{"DeepseekV3ForCausalLM"},
		GGUFArch:      "deepseek2",
		Router:        RouterSigmoidGroupBias,
		KV:            mlaKV,
		Parse:         func(c *Config) (*Model, error) { return parseDeepSeek(c, "noaux_tc") },
		Tensors:       deepSeekTensors,
	})
)

// mlaKV: llama.cpp caches the compressed latent (kv_lora_rank) and the
// shared rotary key (qk_rope_head_dim) of each token, not per-head K and V.
var mlaKV = KVCache{
	Rows:    func(m *Model) []int64 { return []int64{int64(m.KVLoRARank) + int64(m.QKRopeDim)} },
	Formula: "layers × (kv_lora_rank + qk_rope_head_dim) × context × sequences × bytes per element (multi-head latent attention caches one compressed latent and one rotary key per token, shared by all heads)",
}

func parseDeepSeek(c *Config, topkMethod string) (*Model, error) {
	m := &Model{}
	c.common(m, 0, 2048, 1e-6, 1e4)
	m.Experts = c.Need("n_routed_experts")
	c.topK(m, "num_experts_per_tok")
	m.ExpertIntermediate = c.Need("moe_intermediate_size")
	m.SharedExperts = c.Int("n_shared_experts", 0)
	m.SharedIntermediate = m.SharedExperts * m.ExpertIntermediate
	m.NormTopK = c.Bool("norm_topk_prob", false)
	m.KVLoRARank = c.Need("kv_lora_rank")
	m.QKRopeDim = c.Need("qk_rope_head_dim")
	m.QKNopeDim = c.Need("qk_nope_head_dim")
	m.VHeadDim = c.Need("v_head_dim")
	if c.Has("q_lora_rank") {
		m.QLoRARank = c.Need("q_lora_rank")
	} else if _, present := c.raw["q_lora_rank"]; !present {
		c.fail("q_lora_rank", "missing (null means q is projected without compression)")
	}
	m.HeadDim = m.QKNopeDim + m.QKRopeDim
	m.AttentionBias = c.Bool("attention_bias", false)
	m.RouterBias = c.String("topk_method") == "noaux_tc" || !c.Has("topk_method") && topkMethod == "noaux_tc"
	m.MTPLayers = c.Int("num_nextn_predict_layers", 0)
	firstDense := c.Int("first_k_dense_replace", 0)
	freq := c.Int("moe_layer_freq", 1)
	if freq <= 0 {
		c.fail("moe_layer_freq", "must be positive, got %d", freq)
		return nil, c.Err()
	}
	if firstDense > m.Layers {
		c.fail("first_k_dense_replace", "%d is more than num_hidden_layers %d", firstDense, m.Layers)
	}
	m.MoELayers = make([]bool, m.Layers)
	dense := false
	for l := range m.MoELayers {
		m.MoELayers[l] = l >= firstDense && l%freq == 0
		dense = dense || !m.MoELayers[l]
	}
	if dense {
		m.Intermediate = c.Need("intermediate_size")
	} else {
		m.Intermediate = c.Int("intermediate_size", 0)
	}
	return m, c.Err()
}

func qHeadDim(m *Model) int64 { return int64(m.Heads) * int64(m.QKNopeDim+m.QKRopeDim) }
func qLoRA(m *Model) int64    { return int64(m.QLoRARank) }
func kvLoRA(m *Model) int64   { return int64(m.KVLoRARank) }

func withQLoRA(m *Model, l int) bool    { return anyLayer(m, l) && m.QLoRARank > 0 }
func withoutQLoRA(m *Model, l int) bool { return anyLayer(m, l) && m.QLoRARank == 0 }
func withAttnBias(m *Model, l int) bool { return anyLayer(m, l) && m.AttentionBias }

var deepSeekTensors = concat(
	[]Tensor{embedding},
	func() []Tensor {
		attn := func(role, name, gguf string, in func(*Model, int) bool, shape func(*Model) []int64, keys ...string) Tensor {
			return Tensor{Role: role, HF: "model.layers.{L}.self_attn." + name, GGUF: "blk.{L}." + gguf,
				Part: PartAttention, Scope: ScopeLayer, In: in, Shape: shape, Keys: keys}
		}
		kvA := func(m *Model) int64 { return int64(m.KVLoRARank + m.QKRopeDim) }
		kvB := func(m *Model) int64 { return int64(m.Heads) * int64(m.QKNopeDim+m.VHeadDim) }
		oIn := func(m *Model) int64 { return int64(m.Heads) * int64(m.VHeadDim) }
		return []Tensor{
			attn("attn_q", "q_proj.weight", "attn_q.weight", withoutQLoRA, mat(qHeadDim, hid), "num_attention_heads", "qk_nope_head_dim", "qk_rope_head_dim", "hidden_size"),
			attn("attn_q_a", "q_a_proj.weight", "attn_q_a.weight", withQLoRA, mat(qLoRA, hid), "q_lora_rank", "hidden_size"),
			attn("attn_q_a_bias", "q_a_proj.bias", "attn_q_a.bias", func(m *Model, l int) bool { return withQLoRA(m, l) && m.AttentionBias }, vec(qLoRA), "q_lora_rank"),
			attn("attn_q_a_norm", "q_a_layernorm.weight", "attn_q_a_norm.weight", withQLoRA, vec(qLoRA), "q_lora_rank"),
			attn("attn_q_b", "q_b_proj.weight", "attn_q_b.weight", withQLoRA, mat(qHeadDim, qLoRA), "num_attention_heads", "qk_nope_head_dim", "qk_rope_head_dim", "q_lora_rank"),
			attn("attn_kv_a_mqa", "kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight", nil, mat(kvA, hid), "kv_lora_rank", "qk_rope_head_dim", "hidden_size"),
			attn("attn_kv_a_mqa_bias", "kv_a_proj_with_mqa.bias", "attn_kv_a_mqa.bias", withAttnBias, vec(kvA), "kv_lora_rank", "qk_rope_head_dim"),
			attn("attn_kv_a_norm", "kv_a_layernorm.weight", "attn_kv_a_norm.weight", nil, vec(kvLoRA), "kv_lora_rank"),
			attn("attn_kv_b", "kv_b_proj.weight", "attn_kv_b.weight", nil, mat(kvB, kvLoRA), "num_attention_heads", "qk_nope_head_dim", "v_head_dim", "kv_lora_rank"),
			attn("attn_output", "o_proj.weight", "attn_output.weight", nil, mat(hid, oIn), "num_attention_heads", "v_head_dim", "hidden_size"),
			attn("attn_output_bias", "o_proj.bias", "attn_output.bias", withAttnBias, vec(hid), "hidden_size"),
		}
	}(),
	gatedMLP("model.layers.{L}.mlp", "ffn", "", PartDenseFFN, ScopeLayer, denseLayer, ffn, "intermediate_size"),
	[]Tensor{
		router("mlp.gate", "n_routed_experts"),
		{Role: "router_bias", HF: "model.layers.{L}.mlp.gate.e_score_correction_bias", GGUF: "blk.{L}.exp_probs_b.bias",
			Part: PartRouter, Scope: ScopeLayer, In: func(m *Model, l int) bool { return moeLayer(m, l) && m.RouterBias },
			Shape: vec(nexp), Keys: []string{"n_routed_experts"}, DType: "F32"}, // transformers keeps it in float32
	},
	gatedMLP("model.layers.{L}.mlp.experts.{E}", "expert", "_exps", PartExperts, ScopeExpert, moeLayer, eff, "moe_intermediate_size"),
	gatedMLP("model.layers.{L}.mlp.shared_experts", "shexp", "_shexp", PartSharedExpert, ScopeLayer,
		func(m *Model, l int) bool { return moeLayer(m, l) && m.SharedExperts > 0 }, sff, "n_shared_experts", "moe_intermediate_size"),
	llamaNorms(nil),
	// The multi-token-prediction module's own tensors.
	[]Tensor{
		{Role: "mtp_embedding", HF: "model.layers.{L}.embed_tokens.weight", GGUF: "blk.{L}.nextn.embed_tokens.weight",
			Part: PartEmbedding, Scope: ScopeLayer, In: mtpLayer, Shape: vocabByHidden, Keys: []string{"vocab_size", "hidden_size"}},
		{Role: "mtp_enorm", HF: "model.layers.{L}.enorm.weight", GGUF: "blk.{L}.nextn.enorm.weight",
			Part: PartNorm, Scope: ScopeLayer, In: mtpLayer, Shape: vec(hid), Keys: []string{"hidden_size"}},
		{Role: "mtp_hnorm", HF: "model.layers.{L}.hnorm.weight", GGUF: "blk.{L}.nextn.hnorm.weight",
			Part: PartNorm, Scope: ScopeLayer, In: mtpLayer, Shape: vec(hid), Keys: []string{"hidden_size"}},
		{Role: "mtp_eh_proj", HF: "model.layers.{L}.eh_proj.weight", GGUF: "blk.{L}.nextn.eh_proj.weight",
			Part: PartProjection, Scope: ScopeLayer, In: mtpLayer, Shape: mat(hid, func(m *Model) int64 { return 2 * hid(m) }), Keys: []string{"hidden_size"}},
		{Role: "mtp_head_norm", HF: "model.layers.{L}.shared_head.norm.weight", GGUF: "blk.{L}.nextn.shared_head_norm.weight",
			Part: PartNorm, Scope: ScopeLayer, In: mtpLayer, Shape: vec(hid), Keys: []string{"hidden_size"}},
		{Role: "mtp_head", HF: "model.layers.{L}.shared_head.head.weight", GGUF: "blk.{L}.nextn.shared_head_head.weight",
			Part: PartOutput, Scope: ScopeLayer, In: mtpLayer, Shape: vocabByHidden, Keys: []string{"vocab_size", "hidden_size"}},
	},
	[]Tensor{finalNorm, lmHead},
)
