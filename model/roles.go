package model

import (
	"fmt"

	"github.com/mxq-dev/mxq/arch"
)

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

// scope says how many tensors of a role a model has (arch.Scope's values).
type scope int

const (
	scopeModel  = scope(arch.ScopeModel)  // one per model
	scopeLayer  = scope(arch.ScopeLayer)  // one per layer
	scopeExpert = scope(arch.ScopeExpert) // one per layer and expert (HF); one per layer merged (GGUF)
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
// layouts and the Hugging Face shape. The names are the declarations of
// package arch's converting families, found by the role's name (see
// declareNames). Name templates use {L} for the layer and {E} for the
// expert index.
type roleSpec struct {
	role  Role
	name  string // short stable name used in reports, arch's role name
	group Group
	scope scope
	block block
	tail  bool // model-scope tensor stored after the layers

	// decl is the declaration of arch.Mixtral (else of the first
	// converting family declaring the role), whose names are these.
	decl *arch.Tensor
	hf   string // in arch.Mixtral's layout (else the first family declaring it)
	gguf string // for expert roles: the merged (all experts) tensor
	// ggufSplit is the older per-expert GGUF name (before llama.cpp merged
	// expert tensors); still read by llama.cpp.
	ggufSplit string
	// hfByFamily names the tensor in the Hugging Face layout of a family
	// whose names differ from hf (Config.Family → template).
	hfByFamily map[string]string
}

// shape is the Hugging Face (row-major) shape of one tensor of s under c,
// by the formula of c's family's declaration.
func (s *roleSpec) shape(c *Config) []int64 {
	d := s.decl
	if t := c.ArchFamily().Tensor(s.name); t != nil {
		d = t
	}
	return d.Shape(c.archModel())
}

// archModel is c as package arch describes a model, for its shape
// formulas.
func (c *Config) archModel() *arch.Model {
	m := &arch.Model{
		Hidden: c.HiddenSize, Layers: c.NumLayers, Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: c.HeadDim,
		Vocab: c.VocabSize, Intermediate: c.IntermediateSize, Experts: c.NumExperts, TopK: c.ExpertsPerToken,
		ExpertIntermediate: c.ExpertIntermediateSize,
	}
	if m.ExpertIntermediate == 0 {
		m.ExpertIntermediate = m.Intermediate
	}
	return m
}

// roleSpecs is listed in the order transformers registers the modules, which
// is the order of a state_dict and of HFTensors.
var roleSpecs = declare([]roleSpec{
	{role: RoleEmbedding, name: "embedding", block: blockAll},
	{role: RoleAttnQ, name: "attn_q", block: blockAll},
	{role: RoleAttnK, name: "attn_k", block: blockAll},
	{role: RoleAttnV, name: "attn_v", block: blockAll},
	{role: RoleAttnOutput, name: "attn_output", block: blockAll},
	{role: RoleAttnQNorm, name: "attn_q_norm", block: blockQKNorm},
	{role: RoleAttnKNorm, name: "attn_k_norm", block: blockQKNorm},
	{role: RoleRouter, name: "router", block: blockMoE},
	{role: RoleExpertGate, name: "expert_gate", block: blockMoE},
	{role: RoleExpertDown, name: "expert_down", block: blockMoE},
	{role: RoleExpertUp, name: "expert_up", block: blockMoE},
	{role: RoleFFNGate, name: "ffn_gate", block: blockDense},
	{role: RoleFFNUp, name: "ffn_up", block: blockDense},
	{role: RoleFFNDown, name: "ffn_down", block: blockDense},
	{role: RoleAttnNorm, name: "attn_norm", block: blockAll},
	{role: RoleFFNNorm, name: "ffn_norm", block: blockAll},
	{role: RoleOutputNorm, name: "output_norm", block: blockAll},
	{role: RoleOutput, name: "output", block: blockAll},
})

// groupOf is the accounting bucket of each of arch's parts that model has.
var groupOf = map[arch.Part]Group{
	arch.PartEmbedding: GroupEmbedding, arch.PartAttention: GroupAttention, arch.PartNorm: GroupNorm,
	arch.PartRouter: GroupRouter, arch.PartExperts: GroupExperts, arch.PartDenseFFN: GroupDenseFFN, arch.PartOutput: GroupOutput,
}

// declare fills in the names, bucket, scope and place of each role from
// the converting families' declarations in package arch.
func declare(specs []roleSpec) []roleSpec {
	fams := arch.Converting()
	for i := range specs {
		s := &specs[i]
		base := arch.Mixtral.Tensor(s.name)
		for _, f := range fams {
			if base == nil {
				base = f.Tensor(s.name)
			}
		}
		if base == nil {
			panic("model: no converting family declares role " + s.name)
		}
		s.decl, s.hf, s.gguf, s.ggufSplit = base, base.HF, base.GGUF, base.GGUFSplit
		s.group, s.scope, s.tail = groupOf[base.Part], scope(base.Scope), base.Tail
		for _, f := range fams {
			if t := f.Tensor(s.name); t != nil && t.HF != s.hf {
				if s.hfByFamily == nil {
					s.hfByFamily = map[string]string{}
				}
				s.hfByFamily[familyName(f)] = t.HF
			}
		}
	}
	return specs
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

// specNamed is the spec of the role named name (arch's role name), or nil.
func specNamed(name string) *roleSpec {
	for i := range roleSpecs {
		if roleSpecs[i].name == name {
			return &roleSpecs[i]
		}
	}
	return nil
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
	if s := specNamed(string(b)); s != nil {
		*r = s.role
		return nil
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
