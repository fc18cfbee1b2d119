package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// RouterKind says how a mixture-of-experts layer picks and weighs experts.
type RouterKind string

const (
	RouterNone RouterKind = ""
	// RouterSoftmaxTopK: softmax over every expert, keep the top k; the kept
	// weights are renormalised to sum to 1 when Model.NormTopK is set.
	RouterSoftmaxTopK RouterKind = "softmax-topk"
	// RouterTopKSoftmax: keep the top k logits, softmax over those (the same
	// as softmax-topk renormalised).
	RouterTopKSoftmax RouterKind = "topk-softmax"
	// RouterSparseMixer: Phi-3.5-MoE's sparsemixer, two rounds of masked
	// softmax picking one expert each.
	RouterSparseMixer RouterKind = "sparsemixer"
	// RouterGroupLimited: DeepSeek-V2's softmax with top-k inside the best
	// topk_group of n_group expert groups.
	RouterGroupLimited RouterKind = "softmax-group-limited"
	// RouterSigmoidGroupBias: DeepSeek-V3's sigmoid scores plus a learnt
	// per-expert bias choose the top-k inside the best groups; the
	// unbiased scores weigh them, times routed_scaling_factor.
	RouterSigmoidGroupBias RouterKind = "sigmoid-group-bias"
)

// Family is everything mxq knows about one architecture family: how its
// config.json maps to a Model, the tensors of a checkpoint and the KV cache.
type Family struct {
	// Name is the family's stable identifier (its main model_type).
	Name string
	// Display is the name people know it by.
	Display string
	// ModelTypes and Architectures are the config.json "model_type" and
	// "architectures" values it claims.
	ModelTypes    []string
	Architectures []string
	// GGUFArch is llama.cpp's general.architecture for the family.
	GGUFArch string
	Router   RouterKind
	// Parse reads the family's keys from a config.json.
	Parse func(c *Config) (*Model, error)
	// Tensors lists the weights in state_dict order.
	Tensors []Tensor
	// KV describes the KV cache of one token.
	KV KVCache
	// PermuteQK: llama.cpp's converter reorders the rows of each q and k
	// head for adjacent-pair RoPE (the "llama" architecture); otherwise the
	// GGUF keeps Hugging Face's rotate-half order.
	PermuteQK bool
	// GGUFOrder lists the roles in the order llama.cpp's loader creates
	// the architecture's tensors (llama-model.cpp), model tensors first,
	// then those of each layer: the order of the tensors of a GGUF mxq
	// writes.
	GGUFOrder []string
	// GGUFKeys says which of the <arch>.* metadata keys llama.cpp's
	// converter writes for the family beyond the ones every family has.
	GGUFKeys GGUFKeys
	// Variants are the model types a family shares its layout with, each
	// with its own transformers defaults (nil: Parse holds the defaults).
	// The first has experts and the last is dense: a GGUF's expert count
	// picks between them.
	Variants []Variant
	// Converts: quantize, convert and validate handle the family (model,
	// convert and forward read it); otherwise only inspect describes it.
	Converts bool
}

// GGUFKeys are the family-specific parts of the GGUF metadata.
type GGUFKeys struct {
	// HeadDim: attention.key_length and attention.value_length are written
	// whatever head_dim is (the configs always carry one); otherwise only
	// when head_dim differs from hidden_size / num_attention_heads.
	HeadDim bool
	// VocabRopeDim: vocab_size and rope.dimension_count are written.
	VocabRopeDim bool
	// ExpertWidth: expert_feed_forward_length holds the width of one
	// expert, which the config gives apart from intermediate_size.
	ExpertWidth bool
}

// Variant is one model type of a family with the transformers defaults
// (its Config class's __init__) of the keys real configs often omit.
// Shape-defining keys have no default: one would silently describe
// another model.
type Variant struct {
	ModelType    string
	Architecture string
	MaxPositions int
	NormEps      float64
	RopeTheta    float64
	// KVHeads is num_key_value_heads when absent (0: num_attention_heads).
	KVHeads int
	// Experts is num_local_experts when absent (0: dense).
	Experts int
	// TopK is num_experts_per_tok when absent.
	TopK int
	// SlidingWindow is used only when the key is absent; null means none.
	SlidingWindow int
}

// Variant finds the variant of a model_type, else of an architectures
// entry.
func (f *Family) Variant(modelType, architecture string) (Variant, bool) {
	return variant(f.Variants, modelType, architecture)
}

// VariantFor is the variant with experts (moe) or the dense one; false
// when the family has no variants.
func (f *Family) VariantFor(moe bool) (Variant, bool) {
	if len(f.Variants) == 0 {
		return Variant{}, false
	}
	if moe {
		return f.Variants[0], true
	}
	return f.Variants[len(f.Variants)-1], true
}

func variant(vs []Variant, modelType, architecture string) (Variant, bool) {
	for _, v := range vs {
		if v.ModelType == modelType {
			return v, true
		}
	}
	for _, v := range vs {
		if v.Architecture == architecture {
			return v, true
		}
	}
	return Variant{}, false
}

// Has reports whether the family declares a tensor of role.
func (f *Family) Has(role string) bool { return f.Tensor(role) != nil }

// Tensor is the family's declaration of role (nil: none).
func (f *Family) Tensor(role string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Role == role {
			return &f.Tensors[i]
		}
	}
	return nil
}

// Converting lists the families quantize, convert and validate handle.
func Converting() []*Family {
	var out []*Family
	for _, f := range registry {
		if f.Converts {
			out = append(out, f)
		}
	}
	return out
}

// ConvertingNames lists the model types of the converting families.
func ConvertingNames() []string {
	var out []string
	for _, f := range Converting() {
		if len(f.Variants) == 0 {
			out = append(out, f.ModelTypes...)
		}
		for _, v := range f.Variants {
			out = append(out, v.ModelType)
		}
	}
	return out
}

// KVCache is a family's KV cache arithmetic.
type KVCache struct {
	// Rows are the cache rows one token adds to one layer (K and V for
	// grouped-query attention, one latent row for MLA), in values.
	Rows func(m *Model) []int64
	// Formula says in words what Rows counts.
	Formula string
}

// Elements is the number of cached values per token in one layer.
func (k KVCache) Elements(m *Model) int64 {
	var n int64
	for _, r := range k.Rows(m) {
		n += r
	}
	return n
}

// Model is a model described from its config: the union of the
// hyper-parameters the families need. Zero values mean "not used by this
// family".
type Model struct {
	Family       *Family `json:"-"`
	FamilyName   string  `json:"family"`
	ModelType    string  `json:"model_type"`
	Architecture string  `json:"architecture"`

	Hidden       int `json:"hidden_size"`
	Layers       int `json:"num_layers"`
	Heads        int `json:"num_heads"`
	KVHeads      int `json:"num_kv_heads"`
	HeadDim      int `json:"head_dim"`
	Vocab        int `json:"vocab_size"`
	MaxPositions int `json:"max_position_embeddings"`

	// Intermediate is the MLP width of dense layers (and of Mixtral-style
	// experts, whose config has no separate key).
	Intermediate int `json:"intermediate_size"`

	Experts            int  `json:"num_experts"`
	TopK               int  `json:"experts_per_token"`
	ExpertIntermediate int  `json:"expert_intermediate_size"`
	NormTopK           bool `json:"norm_topk_prob"`

	// SharedExperts is the number of always-on experts per MoE layer,
	// SharedIntermediate their combined width.
	SharedExperts      int  `json:"shared_experts,omitempty"`
	SharedIntermediate int  `json:"shared_expert_intermediate_size,omitempty"`
	SharedExpertGate   bool `json:"shared_expert_gate,omitempty"`

	// MoELayers marks the layers whose FFN is a mixture of experts.
	MoELayers []bool `json:"-"`

	// Multi-head latent attention (DeepSeek): QLoRARank 0 means q is
	// projected directly.
	QLoRARank  int `json:"q_lora_rank,omitempty"`
	KVLoRARank int `json:"kv_lora_rank,omitempty"`
	QKNopeDim  int `json:"qk_nope_head_dim,omitempty"`
	QKRopeDim  int `json:"qk_rope_head_dim,omitempty"`
	VHeadDim   int `json:"v_head_dim,omitempty"`
	// RouterBias is a learnt per-expert bias of the router.
	RouterBias bool `json:"router_bias,omitempty"`
	// MTPLayers is the number of multi-token-prediction modules stored
	// after the main layers (DeepSeek's num_nextn_predict_layers).
	MTPLayers int `json:"mtp_layers,omitempty"`

	// SlidingWindow is the attention span of sliding layers; SlidingLayers
	// marks them (nil: none or all, see SlidingAll).
	SlidingWindow int    `json:"sliding_window,omitempty"`
	SlidingLayers []bool `json:"-"`

	AttentionBias bool `json:"attention_bias,omitempty"`
	QKVBias       bool `json:"qkv_bias,omitempty"`
	OutputBias    bool `json:"lm_head_bias,omitempty"`
	NormBias      bool `json:"norm_bias,omitempty"`

	TieEmbeddings bool    `json:"tie_word_embeddings"`
	RopeTheta     float64 `json:"rope_theta"`
	NormEps       float64 `json:"norm_eps"`
	TorchDType    string  `json:"torch_dtype,omitempty"`
	// Quantization is the config's quantization_config.quant_method, and
	// BlockSize its weight_block_size for block-scaled FP8.
	Quantization string `json:"quantization,omitempty"`
	BlockSize    []int  `json:"weight_block_size,omitempty"`

	// Defaulted lists config keys that were absent and took the
	// transformers default.
	Defaulted []string `json:"defaulted,omitempty"`
}

// IsMoELayer reports whether layer's FFN is a mixture of experts.
func (m *Model) IsMoELayer(layer int) bool {
	if m.MoELayers == nil {
		return m.Experts > 1
	}
	return layer >= 0 && layer < len(m.MoELayers) && m.MoELayers[layer] || layer >= m.Layers && m.Experts > 1
}

// IsSlidingLayer reports whether layer attends over a sliding window.
func (m *Model) IsSlidingLayer(layer int) bool {
	return layer >= 0 && layer < len(m.SlidingLayers) && m.SlidingLayers[layer]
}

// registry lists every family in the order they are reported.
var registry []*Family

func register(f *Family) *Family {
	registry = append(registry, f)
	return f
}

// Families returns every known family.
func Families() []*Family { return slices.Clone(registry) }

// Names lists the families' display names.
func Names() []string {
	out := make([]string, 0, len(registry))
	for _, f := range registry {
		out = append(out, f.Display)
	}
	return out
}

// ByModelType finds the family that claims a config.json model_type.
func ByModelType(t string) (*Family, bool) {
	for _, f := range registry {
		if slices.Contains(f.ModelTypes, t) {
			return f, true
		}
	}
	return nil, false
}

// ByArchitecture finds the family that claims an "architectures" entry.
func ByArchitecture(a string) (*Family, bool) {
	for _, f := range registry {
		if slices.Contains(f.Architectures, a) {
			return f, true
		}
	}
	return nil, false
}

// ByGGUF finds the family whose llama.cpp general.architecture is name.
// Mixtral, Mistral and Llama all convert to "llama".
func ByGGUF(name string) (*Family, bool) {
	for _, f := range registry {
		if f.GGUFArch == name {
			return f, true
		}
	}
	return nil, false
}

// ErrUnknown is matched by every *UnknownError.
var ErrUnknown = errors.New("unknown architecture")

// UnknownError names an architecture no family claims.
type UnknownError struct {
	File string
	// What is the config's model_type and architectures as found.
	ModelType     string
	Architectures []string
	// Reason replaces the model_type and architectures in the message
	// when there was no config to read them from.
	Reason string
}

func (e *UnknownError) Error() string {
	var what []string
	if e.ModelType != "" {
		what = append(what, fmt.Sprintf("model_type %q", e.ModelType))
	}
	if len(e.Architectures) > 0 {
		what = append(what, fmt.Sprintf("architectures %q", e.Architectures))
	}
	if e.Reason != "" {
		what = []string{e.Reason}
	}
	if len(what) == 0 {
		what = append(what, "no model_type or architectures")
	}
	file := e.File
	if file == "" {
		file = "config"
	}
	return fmt.Sprintf("%s: unknown architecture (%s); mxq knows %s", file, strings.Join(what, ", "), strings.Join(Names(), ", "))
}

func (e *UnknownError) Is(target error) bool { return target == ErrUnknown }

// Identify finds the family of a config.json document: model_type first,
// then the architectures list. It returns an *UnknownError when no family
// claims either.
func Identify(c *Config) (*Family, error) {
	mt, _ := c.str("model_type")
	archs, _ := c.strs("architectures")
	if f, ok := ByModelType(mt); ok {
		return f, nil
	}
	for _, a := range archs {
		if f, ok := ByArchitecture(a); ok {
			return f, nil
		}
	}
	return nil, &UnknownError{File: c.File, ModelType: mt, Architectures: archs}
}

// Load reads a config.json, identifies its family and describes the model.
func Load(path string) (*Model, error) {
	data, err := safeio.ReadFile(path, safeio.ConfigLimit)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data, path)
	if err != nil {
		return nil, err
	}
	return c.Model()
}

// Model identifies the config's family and describes the model.
func (c *Config) Model() (*Model, error) {
	f, err := Identify(c)
	if err != nil {
		return nil, err
	}
	m, err := f.Parse(c)
	if err != nil {
		return nil, err
	}
	if err := m.bounded(c.File); err != nil {
		return nil, err
	}
	m.Family, m.FamilyName = f, f.Name
	m.ModelType, _ = c.str("model_type")
	if archs, _ := c.strs("architectures"); len(archs) > 0 {
		m.Architecture = archs[0]
	}
	m.Defaulted = c.defaulted
	sort.Strings(m.Defaulted)
	return m, nil
}

// ParseConfig decodes a config.json document; file names it in errors.
func ParseConfig(data []byte, file string) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ConfigError{File: file, Msg: "not a JSON object: " + err.Error()}
	}
	return &Config{File: file, raw: raw}, nil
}

// Bounds far above any real model keep the arithmetic of callers (tensor
// lists, byte counts) clear of overflow and huge allocations.
const (
	maxLayers  = 4096
	maxExperts = 4096
	maxWidth   = 1 << 22
)

func (m *Model) bounded(file string) error {
	if m.Layers+m.MTPLayers > maxLayers || m.Experts > maxExperts || int64(m.Layers+m.MTPLayers)*int64(max(m.Experts, 1)) > 1<<16 {
		return &ConfigError{File: file, Key: "num_hidden_layers", Msg: fmt.Sprintf("%d layers × %d experts is implausibly large", m.Layers+m.MTPLayers, m.Experts)}
	}
	for _, d := range []struct {
		key string
		v   int
	}{
		{"hidden_size", m.Hidden}, {"vocab_size", m.Vocab}, {"intermediate_size", m.Intermediate},
		{"moe_intermediate_size", m.ExpertIntermediate}, {"shared_expert_intermediate_size", m.SharedIntermediate},
		{"num_attention_heads", m.Heads * max(m.HeadDim, m.QKNopeDim+m.QKRopeDim+m.VHeadDim)},
		{"kv_lora_rank", m.KVLoRARank}, {"q_lora_rank", m.QLoRARank},
	} {
		if d.v > maxWidth {
			return &ConfigError{File: file, Key: d.key, Msg: fmt.Sprintf("%d is implausibly large", d.v)}
		}
	}
	return nil
}
