package model

import "fmt"

// Role is what a weight tensor does in the network.
type Role int

// The zero Role is RoleUnknown, so an unclassified TensorRole never passes
// for a real one.
const (
	RoleUnknown    Role = iota
	RoleEmbedding       // token embedding table
	RoleAttnQ           // attention query projection
	RoleAttnK           // attention key projection
	RoleAttnV           // attention value projection
	RoleAttnOutput      // attention output projection
	RoleAttnNorm        // RMSNorm before attention (input_layernorm)
	RoleFFNNorm         // RMSNorm before the feed-forward block (post_attention_layernorm)
	RoleRouter          // MoE gate: hidden -> expert logits
	RoleExpertGate      // expert w1 (gate projection)
	RoleExpertDown      // expert w2 (down projection)
	RoleExpertUp        // expert w3 (up projection)
	RoleFFNGate         // dense MLP gate_proj
	RoleFFNDown         // dense MLP down_proj
	RoleFFNUp           // dense MLP up_proj
	RoleOutputNorm      // final RMSNorm
	RoleOutput          // LM head
	RoleAttnQNorm       // per-head RMSNorm of q (Qwen3)
	RoleAttnKNorm       // per-head RMSNorm of k (Qwen3)
	numRoles
)

// AllExperts is the Expert index of a GGUF tensor that stacks every expert
// of a layer (blk.N.ffn_*_exps).
const AllExperts = -2

// TensorRole places one tensor: its role, its layer (-1 for none) and its
// expert (-1 for none, AllExperts for a merged GGUF expert tensor).
type TensorRole struct {
	Role   Role `json:"role"`
	Layer  int  `json:"layer"`
	Expert int  `json:"expert"`
}

// Unknown is the TensorRole of a name no rule matches.
var Unknown = TensorRole{Role: RoleUnknown, Layer: -1, Expert: -1}

// Group is the accounting bucket a role's parameters fall into.
type Group int

const (
	GroupUnknown Group = iota
	GroupEmbedding
	GroupAttention
	GroupNorm
	GroupRouter
	GroupExperts
	GroupDenseFFN
	GroupOutput
)

var groupNames = [...]string{"unknown", "embedding", "attention", "norms", "router", "experts", "dense_ffn", "output_head"}

func (g Group) String() string {
	if g >= 0 && int(g) < len(groupNames) {
		return groupNames[g]
	}
	return fmt.Sprintf("group(%d)", int(g))
}

// scope says how many tensors of a role a model has.
type scope int

const (
	scopeModel  scope = iota // one per model
	scopeLayer               // one per layer
	scopeExpert              // one per layer and expert (HF); one per layer merged (GGUF)
)

// block says which models carry the role.
type block int

const (
	blockAll    block = iota
	blockMoE          // only when NumExperts > 1
	blockDense        // only when NumExperts == 1
	blockQKNorm       // only when QKNorm
)

// roleSpec is the single description of a tensor role: names in both
// layouts and the Hugging Face shape. Name templates use {L} for the layer
// and {E} for the expert index.
type roleSpec struct {
	role  Role
	name  string // short stable name used in reports
	group Group
	scope scope
	block block
	tail  bool // model-scope tensor stored after the layers
	hf    string
	gguf  string // for expert roles: the merged (all experts) tensor
	// ggufSplit is the older per-expert GGUF name (before llama.cpp merged
	// expert tensors); still read by llama.cpp.
	ggufSplit string
	shape     func(c *Config) []int64 // Hugging Face (row-major) shape of one tensor
	// hfByFamily names the tensor in the Hugging Face layout of a family
	// whose names differ from Mixtral's (Config.Family → template).
	hfByFamily map[string]string
}

func h(c *Config) int64  { return int64(c.HiddenSize) }
func q(c *Config) int64  { return int64(c.NumHeads) * int64(c.HeadDim) }
func kv(c *Config) int64 { return int64(c.NumKVHeads) * int64(c.HeadDim) }
func ff(c *Config) int64 { return int64(c.IntermediateSize) }

// eff is the width of one expert.
func eff(c *Config) int64 {
	if c.ExpertIntermediateSize > 0 {
		return int64(c.ExpertIntermediateSize)
	}
	return ff(c)
}
func hd(c *Config) int64 { return int64(c.HeadDim) }

// roleSpecs is listed in the order transformers registers the modules, which
// is the order of a state_dict and of HFTensors.
var roleSpecs = []roleSpec{
	{RoleEmbedding, "embedding", GroupEmbedding, scopeModel, blockAll, false,
		"model.embed_tokens.weight", "token_embd.weight", "",
		func(c *Config) []int64 { return []int64{int64(c.VocabSize), h(c)} }, nil},
	{RoleAttnQ, "attn_q", GroupAttention, scopeLayer, blockAll, false,
		"model.layers.{L}.self_attn.q_proj.weight", "blk.{L}.attn_q.weight", "",
		func(c *Config) []int64 { return []int64{q(c), h(c)} }, nil},
	{RoleAttnK, "attn_k", GroupAttention, scopeLayer, blockAll, false,
		"model.layers.{L}.self_attn.k_proj.weight", "blk.{L}.attn_k.weight", "",
		func(c *Config) []int64 { return []int64{kv(c), h(c)} }, nil},
	{RoleAttnV, "attn_v", GroupAttention, scopeLayer, blockAll, false,
		"model.layers.{L}.self_attn.v_proj.weight", "blk.{L}.attn_v.weight", "",
		func(c *Config) []int64 { return []int64{kv(c), h(c)} }, nil},
	{RoleAttnOutput, "attn_output", GroupAttention, scopeLayer, blockAll, false,
		"model.layers.{L}.self_attn.o_proj.weight", "blk.{L}.attn_output.weight", "",
		func(c *Config) []int64 { return []int64{h(c), q(c)} }, nil},
	{RoleAttnQNorm, "attn_q_norm", GroupAttention, scopeLayer, blockQKNorm, false,
		"model.layers.{L}.self_attn.q_norm.weight", "blk.{L}.attn_q_norm.weight", "",
		func(c *Config) []int64 { return []int64{hd(c)} }, nil},
	{RoleAttnKNorm, "attn_k_norm", GroupAttention, scopeLayer, blockQKNorm, false,
		"model.layers.{L}.self_attn.k_norm.weight", "blk.{L}.attn_k_norm.weight", "",
		func(c *Config) []int64 { return []int64{hd(c)} }, nil},
	{RoleRouter, "router", GroupRouter, scopeLayer, blockMoE, false,
		"model.layers.{L}.block_sparse_moe.gate.weight", "blk.{L}.ffn_gate_inp.weight", "",
		func(c *Config) []int64 { return []int64{int64(c.NumExperts), h(c)} }, qwenHF("mlp.gate")},
	{RoleExpertGate, "expert_gate", GroupExperts, scopeExpert, blockMoE, false,
		"model.layers.{L}.block_sparse_moe.experts.{E}.w1.weight", "blk.{L}.ffn_gate_exps.weight", "blk.{L}.ffn_gate.{E}.weight",
		func(c *Config) []int64 { return []int64{eff(c), h(c)} }, qwenHF("mlp.experts.{E}.gate_proj")},
	{RoleExpertDown, "expert_down", GroupExperts, scopeExpert, blockMoE, false,
		"model.layers.{L}.block_sparse_moe.experts.{E}.w2.weight", "blk.{L}.ffn_down_exps.weight", "blk.{L}.ffn_down.{E}.weight",
		func(c *Config) []int64 { return []int64{h(c), eff(c)} }, qwenHF("mlp.experts.{E}.down_proj")},
	{RoleExpertUp, "expert_up", GroupExperts, scopeExpert, blockMoE, false,
		"model.layers.{L}.block_sparse_moe.experts.{E}.w3.weight", "blk.{L}.ffn_up_exps.weight", "blk.{L}.ffn_up.{E}.weight",
		func(c *Config) []int64 { return []int64{eff(c), h(c)} }, qwenHF("mlp.experts.{E}.up_proj")},
	{RoleFFNGate, "ffn_gate", GroupDenseFFN, scopeLayer, blockDense, false,
		"model.layers.{L}.mlp.gate_proj.weight", "blk.{L}.ffn_gate.weight", "",
		func(c *Config) []int64 { return []int64{ff(c), h(c)} }, nil},
	{RoleFFNUp, "ffn_up", GroupDenseFFN, scopeLayer, blockDense, false,
		"model.layers.{L}.mlp.up_proj.weight", "blk.{L}.ffn_up.weight", "",
		func(c *Config) []int64 { return []int64{ff(c), h(c)} }, nil},
	{RoleFFNDown, "ffn_down", GroupDenseFFN, scopeLayer, blockDense, false,
		"model.layers.{L}.mlp.down_proj.weight", "blk.{L}.ffn_down.weight", "",
		func(c *Config) []int64 { return []int64{h(c), ff(c)} }, nil},
	{RoleAttnNorm, "attn_norm", GroupNorm, scopeLayer, blockAll, false,
		"model.layers.{L}.input_layernorm.weight", "blk.{L}.attn_norm.weight", "",
		func(c *Config) []int64 { return []int64{h(c)} }, nil},
	{RoleFFNNorm, "ffn_norm", GroupNorm, scopeLayer, blockAll, false,
		"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.ffn_norm.weight", "",
		func(c *Config) []int64 { return []int64{h(c)} }, nil},
	{RoleOutputNorm, "output_norm", GroupNorm, scopeModel, blockAll, true,
		"model.norm.weight", "output_norm.weight", "",
		func(c *Config) []int64 { return []int64{h(c)} }, nil},
	{RoleOutput, "output", GroupOutput, scopeModel, blockAll, true,
		"lm_head.weight", "output.weight", "",
		func(c *Config) []int64 { return []int64{int64(c.VocabSize), h(c)} }, nil},
}

// qwenHF is the Qwen3-MoE name of a layer tensor whose Mixtral name
// differs.
func qwenHF(module string) map[string]string {
	return map[string]string{FamilyQwen3MoE: "model.layers.{L}." + module + ".weight"}
}

var specByRole = func() [numRoles]*roleSpec {
	var m [numRoles]*roleSpec
	for i := range roleSpecs {
		m[roleSpecs[i].role] = &roleSpecs[i]
	}
	return m
}()

func spec(r Role) *roleSpec {
	if r <= RoleUnknown || r >= numRoles {
		return nil
	}
	return specByRole[r]
}

// String returns the role's short name ("attn_q", "expert_down", ...).
func (r Role) String() string {
	if s := spec(r); s != nil {
		return s.name
	}
	return "unknown"
}

// MarshalText makes roles appear by name in JSON.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText accepts the names String produces.
func (r *Role) UnmarshalText(b []byte) error {
	for i := range roleSpecs {
		if roleSpecs[i].name == string(b) {
			*r = roleSpecs[i].role
			return nil
		}
	}
	if string(b) == "unknown" {
		*r = RoleUnknown
		return nil
	}
	return fmt.Errorf("unknown tensor role %q", b)
}

// Group returns the accounting bucket of the role.
func (r Role) Group() Group {
	if s := spec(r); s != nil {
		return s.group
	}
	return GroupUnknown
}

// PerExpert reports whether a model has one such tensor per expert.
func (r Role) PerExpert() bool {
	s := spec(r)
	return s != nil && s.scope == scopeExpert
}

// PerLayer reports whether the role occurs once per layer (or per layer and
// expert).
func (r Role) PerLayer() bool {
	s := spec(r)
	return s != nil && s.scope != scopeModel
}

// Roles lists every known role in state_dict order.
func Roles() []Role {
	out := make([]Role, len(roleSpecs))
	for i := range roleSpecs {
		out[i] = roleSpecs[i].role
	}
	return out
}
