package arch

// Shape helpers shared by the family declarations.

func hid(m *Model) int64    { return int64(m.Hidden) }
func qRows(m *Model) int64  { return int64(m.Heads) * int64(m.HeadDim) }
func kvRows(m *Model) int64 { return int64(m.KVHeads) * int64(m.HeadDim) }
func ffn(m *Model) int64    { return int64(m.Intermediate) }
func eff(m *Model) int64    { return int64(m.ExpertIntermediate) }
func sff(m *Model) int64    { return int64(m.SharedIntermediate) }
func nexp(m *Model) int64   { return int64(m.Experts) }

func vec(n func(*Model) int64) func(*Model) []int64 {
	return func(m *Model) []int64 { return []int64{n(m)} }
}

func mat(rows, cols func(*Model) int64) func(*Model) []int64 {
	return func(m *Model) []int64 { return []int64{rows(m), cols(m)} }
}

func vocabByHidden(m *Model) []int64 { return []int64{int64(m.Vocab), hid(m)} }

// Layer predicates for Tensor.In.

func moeLayer(m *Model, l int) bool   { return l >= 0 && l < m.Layers+m.MTPLayers && m.IsMoELayer(l) }
func denseLayer(m *Model, l int) bool { return l >= 0 && l < m.Layers+m.MTPLayers && !m.IsMoELayer(l) }
func anyLayer(m *Model, l int) bool   { return l >= 0 && l < m.Layers+m.MTPLayers }
func mtpLayer(m *Model, l int) bool   { return l >= m.Layers && l < m.Layers+m.MTPLayers }

// gqaKV is the cache of grouped-query attention: a K and a V row of
// kv_heads × head_dim per layer.
var gqaKV = KVCache{
	Rows:    func(m *Model) []int64 { return []int64{kvRows(m), kvRows(m)} },
	Formula: "2 (K and V) × layers × kv_heads × head_dim × context × sequences × bytes per element",
}

// llamaNorms are the two RMSNorms of a llama-style decoder layer.
func llamaNorms(in func(*Model, int) bool) []Tensor {
	return []Tensor{
		{Role: "attn_norm", HF: "model.layers.{L}.input_layernorm.weight", GGUF: "blk.{L}.attn_norm.weight",
			Part: PartNorm, Scope: ScopeLayer, In: in, Shape: vec(hid), Keys: []string{"hidden_size"}},
		{Role: "ffn_norm", HF: "model.layers.{L}.post_attention_layernorm.weight", GGUF: "blk.{L}.ffn_norm.weight",
			Part: PartNorm, Scope: ScopeLayer, In: in, Shape: vec(hid), Keys: []string{"hidden_size"}},
	}
}

// embedding, finalNorm and lmHead are the model-scope tensors every family
// here shares.
var (
	embedding = Tensor{Role: "embedding", HF: "model.embed_tokens.weight", GGUF: "token_embd.weight",
		Part: PartEmbedding, Scope: ScopeModel, Shape: vocabByHidden, Keys: []string{"vocab_size", "hidden_size"}}
	finalNorm = Tensor{Role: "output_norm", HF: "model.norm.weight", GGUF: "output_norm.weight",
		Part: PartNorm, Scope: ScopeModel, Tail: true, Shape: vec(hid), Keys: []string{"hidden_size"}}
	lmHead = Tensor{Role: "output", HF: "lm_head.weight", GGUF: "output.weight",
		Part: PartOutput, Scope: ScopeModel, Tail: true, Shape: vocabByHidden, Keys: []string{"vocab_size", "hidden_size"}}
)

// gatedMLP is a SwiGLU MLP (gate_proj, up_proj, down_proj) under prefix,
// counted toward part, with width w. Roles are role+"_gate" and so on;
// llama.cpp names them ffn_gate+suffix and so on.
func gatedMLP(prefix, role, suffix string, part Part, scope Scope, in func(*Model, int) bool, w func(*Model) int64, keys ...string) []Tensor {
	keys = append([]string{"hidden_size"}, keys...)
	one := func(name, gguf string, shape func(*Model) []int64) Tensor {
		return Tensor{Role: role + "_" + name, HF: prefix + "." + name + "_proj.weight", GGUF: "blk.{L}." + gguf + suffix + ".weight",
			Part: part, Scope: scope, In: in, Shape: shape, Keys: keys}
	}
	return []Tensor{
		one("gate", "ffn_gate", mat(w, hid)),
		one("up", "ffn_up", mat(w, hid)),
		one("down", "ffn_down", mat(hid, w)),
	}
}

func concat(parts ...[]Tensor) []Tensor {
	var out []Tensor
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// gqaAttention is llama-style attention: q, k, v and o projections, with a
// bias on q, k and v when qkvBias says so and on o when oBias does.
func gqaAttention(qkvBias, oBias func(*Model) bool) []Tensor {
	proj := func(role, name, gguf string, shape func(*Model) []int64, keys ...string) Tensor {
		return Tensor{Role: role, HF: "model.layers.{L}.self_attn." + name + ".weight", GGUF: "blk.{L}." + gguf + ".weight",
			Part: PartAttention, Scope: ScopeLayer, Shape: shape, Keys: keys}
	}
	bias := func(role, name, gguf string, rows func(*Model) int64, on func(*Model) bool, keys ...string) Tensor {
		return Tensor{Role: role + "_bias", HF: "model.layers.{L}.self_attn." + name + ".bias", GGUF: "blk.{L}." + gguf + ".bias",
			Part: PartAttention, Scope: ScopeLayer, In: func(m *Model, l int) bool { return anyLayer(m, l) && on(m) }, Shape: vec(rows), Keys: keys}
	}
	qk := []string{"num_attention_heads", "head_dim", "hidden_size"}
	kvk := []string{"num_key_value_heads", "head_dim", "hidden_size"}
	return []Tensor{
		proj("attn_q", "q_proj", "attn_q", mat(qRows, hid), qk...),
		bias("attn_q", "q_proj", "attn_q", qRows, qkvBias, qk...),
		proj("attn_k", "k_proj", "attn_k", mat(kvRows, hid), kvk...),
		bias("attn_k", "k_proj", "attn_k", kvRows, qkvBias, kvk...),
		proj("attn_v", "v_proj", "attn_v", mat(kvRows, hid), kvk...),
		bias("attn_v", "v_proj", "attn_v", kvRows, qkvBias, kvk...),
		proj("attn_output", "o_proj", "attn_output", mat(hid, qRows), qk...),
		bias("attn_output", "o_proj", "attn_output", hid, oBias, "hidden_size"),
	}
}

func never(*Model) bool { return false }

func attnBias(m *Model) bool { return m.AttentionBias }

// router is a mixture-of-experts gate at name (model.layers.{L}.NAME.weight).
func router(name string, keys ...string) Tensor {
	return Tensor{Role: "router", HF: "model.layers.{L}." + name + ".weight", GGUF: "blk.{L}.ffn_gate_inp.weight",
		Part: PartRouter, Scope: ScopeLayer, In: moeLayer, Shape: mat(nexp, hid), Keys: append(keys, "hidden_size")}
}
