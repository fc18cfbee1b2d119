package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/internal/safeio"
)

// Config is the part of a Hugging Face config.json that fixes the shapes of
// a checkpoint of a converting family of package arch (Mixtral, Mistral,
// Llama, Qwen3-MoE). Dense models have NumExperts 1 and ExpertsPerToken 1.
type Config struct {
	Architecture          string  `json:"architecture"`
	ModelType             string  `json:"model_type"`
	HiddenSize            int     `json:"hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumLayers             int     `json:"num_layers"`
	NumHeads              int     `json:"num_heads"`
	NumKVHeads            int     `json:"num_kv_heads"`
	HeadDim               int     `json:"head_dim"`
	NumExperts            int     `json:"num_experts"`
	ExpertsPerToken       int     `json:"experts_per_token"`
	VocabSize             int     `json:"vocab_size"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	SlidingWindow         int     `json:"sliding_window"` // 0: none (null in config.json)
	RopeTheta             float64 `json:"rope_theta"`
	RMSNormEps            float64 `json:"rms_norm_eps"`
	TieWordEmbeddings     bool    `json:"tie_word_embeddings"`
	TorchDType            string  `json:"torch_dtype,omitempty"`
	BOSTokenID            int     `json:"bos_token_id"`
	EOSTokenID            int     `json:"eos_token_id"`

	// Family is the arch family's name for families beyond the Llama
	// layout ("qwen3_moe"); "" for the variants of arch.Mixtral.
	Family string `json:"family,omitempty"`
	// ExpertIntermediateSize is the width of each expert when the config
	// gives it separately (moe_intermediate_size); 0 means IntermediateSize.
	ExpertIntermediateSize int `json:"expert_intermediate_size,omitempty"`
	// QKNorm: each head of q and k is RMS-normalised before RoPE.
	QKNorm bool `json:"qk_norm,omitempty"`
	// TopKUnnormalized: the kept softmax weights of the router are used as
	// they are instead of being renormalised to sum to 1.
	TopKUnnormalized bool `json:"topk_unnormalized,omitempty"`

	// Defaulted lists the config.json keys that were absent (or null where
	// null is not meaningful) and took the transformers default for the
	// model type, so reports can say which figures rest on a default.
	Defaulted []string `json:"defaulted,omitempty"`
}

// IsMoE reports whether the feed-forward blocks are mixtures of experts.
func (c *Config) IsMoE() bool { return c.NumExperts > 1 }

// ConfigError describes an unusable config.json; Key names the offending
// field ("" when the document itself is malformed). It is arch's, so
// errors from either parser match the same type and ErrConfig.
type ConfigError = arch.ConfigError

// ErrConfig is matched by every *ConfigError through errors.Is.
var ErrConfig = arch.ErrConfig

// SupportedArchitectures lists the architectures of the Llama layout
// ParseConfig reads directly (the variants of arch.Mixtral).
func SupportedArchitectures() []string {
	out := make([]string, 0, len(arch.Mixtral.Variants))
	for _, v := range arch.Mixtral.Variants {
		out = append(out, v.Architecture)
	}
	sort.Strings(out)
	return out
}

// LoadConfig reads and parses a config.json file.
func LoadConfig(path string) (*Config, error) {
	data, err := safeio.ReadFile(path, safeio.ConfigLimit)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	return c, nil
}

// ParseConfig parses a Hugging Face config.json of a family mxq converts:
// a variant of arch.Mixtral (MixtralForCausalLM, MistralForCausalLM,
// LlamaForCausalLM) read here, or another converting family read through
// package arch (see parseFamily). A config of any other family is refused
// naming it and the model types conversion supports.
//
// Absent keys take the transformers defaults of the config's variant
// (arch.Variant: rope_theta, rms_norm_eps, max_position_embeddings,
// num_key_value_heads, num_local_experts, and sliding_window when the key
// is absent; an explicit null is no window). A config whose model_type is
// "mistral" but which carries num_local_experts (early Mixtral uploads) is
// read as a mixture of experts. head_dim is used when present, else
// hidden_size / num_attention_heads. Newer configs that keep rope_theta
// inside rope_parameters, or name torch_dtype "dtype", are understood too.
func ParseConfig(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ConfigError{Msg: "not a JSON object: " + err.Error()}
	}
	r := rawConfig(raw)
	if f, ok := familyOf(r); ok {
		return parseFamily(data, f)
	}
	c := &Config{}

	archName, modelType, err := r.architecture()
	if err != nil {
		return nil, err
	}
	c.Architecture, c.ModelType = archName, modelType
	d, _ := arch.Mixtral.Variant(modelType, archName)

	required := []struct {
		key string
		dst *int
	}{
		{"hidden_size", &c.HiddenSize},
		{"intermediate_size", &c.IntermediateSize},
		{"num_hidden_layers", &c.NumLayers},
		{"num_attention_heads", &c.NumHeads},
		{"vocab_size", &c.VocabSize},
	}
	for _, f := range required {
		v, ok, err := r.int(f.key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &ConfigError{Key: f.key, Msg: "missing (required to know the tensor shapes)"}
		}
		if v <= 0 {
			return nil, &ConfigError{Key: f.key, Msg: fmt.Sprintf("must be positive, got %d", v)}
		}
		*f.dst = v
	}

	def := func(key string) { c.Defaulted = append(c.Defaulted, key) }

	if v, ok, err := r.int("num_key_value_heads"); err != nil {
		return nil, err
	} else if ok {
		c.NumKVHeads = v
	} else {
		c.NumKVHeads = d.KVHeads
		if c.NumKVHeads == 0 {
			c.NumKVHeads = c.NumHeads
		}
		def("num_key_value_heads")
	}
	if c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0 {
		return nil, &ConfigError{Key: "num_key_value_heads", Msg: fmt.Sprintf("%d does not divide num_attention_heads %d", c.NumKVHeads, c.NumHeads)}
	}

	if v, ok, err := r.int("head_dim"); err != nil {
		return nil, err
	} else if ok {
		if v <= 0 {
			return nil, &ConfigError{Key: "head_dim", Msg: fmt.Sprintf("must be positive, got %d", v)}
		}
		c.HeadDim = v
	} else {
		if c.HiddenSize%c.NumHeads != 0 {
			return nil, &ConfigError{Key: "num_attention_heads", Msg: fmt.Sprintf("%d does not divide hidden_size %d and head_dim is absent", c.NumHeads, c.HiddenSize)}
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	}

	if err := c.parseExperts(r, d, def); err != nil {
		return nil, err
	}

	maxPos, ok, err := r.int("max_position_embeddings")
	if err != nil {
		return nil, err
	}
	if err := positiveOr(&c.MaxPositionEmbeddings, "max_position_embeddings", maxPos, ok, d.MaxPositions, def); err != nil {
		return nil, err
	}

	if _, present := raw["sliding_window"]; present {
		v, ok, err := r.int("sliding_window")
		if err != nil {
			return nil, err
		}
		if ok && v < 0 {
			return nil, &ConfigError{Key: "sliding_window", Msg: fmt.Sprintf("must not be negative, got %d", v)}
		}
		c.SlidingWindow = v // null stays 0: no window
	} else {
		c.SlidingWindow = d.SlidingWindow
		def("sliding_window")
	}

	if err := c.parseFloats(r, d, def); err != nil {
		return nil, err
	}

	if v, ok, err := r.bool("tie_word_embeddings"); err != nil {
		return nil, err
	} else if ok {
		c.TieWordEmbeddings = v
	} else {
		def("tie_word_embeddings")
	}

	for _, key := range []string{"torch_dtype", "dtype"} {
		if s, ok, err := r.string(key); err != nil {
			return nil, err
		} else if ok {
			c.TorchDType = s
			break
		}
	}

	c.BOSTokenID, c.EOSTokenID = 1, 2
	for _, t := range []struct {
		key string
		dst *int
	}{{"bos_token_id", &c.BOSTokenID}, {"eos_token_id", &c.EOSTokenID}} {
		if v, ok, err := r.tokenID(t.key); err != nil {
			return nil, err
		} else if ok {
			*t.dst = v
		} else {
			def(t.key)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) parseExperts(r rawConfig, d arch.Variant, def func(string)) error {
	n, ok, err := r.int("num_local_experts")
	if err != nil {
		return err
	}
	switch {
	case ok:
		if n <= 0 {
			return &ConfigError{Key: "num_local_experts", Msg: fmt.Sprintf("must be positive, got %d", n)}
		}
		c.NumExperts = n
	case d.Experts > 0:
		c.NumExperts = d.Experts
		def("num_local_experts")
	default:
		c.NumExperts = 1
	}
	moe, _ := arch.Mixtral.VariantFor(true)
	if c.Architecture == moe.Architecture && c.NumExperts == 1 && !ok && d.ModelType != moe.ModelType {
		// MixtralForCausalLM always builds a sparse block.
		c.NumExperts = moe.Experts
		def("num_local_experts")
	}
	if c.NumExperts == 1 {
		c.ExpertsPerToken = 1
		return nil
	}
	k, ok, err := r.int("num_experts_per_tok")
	if err != nil {
		return err
	}
	if !ok {
		k = moe.TopK
		def("num_experts_per_tok")
	}
	if k <= 0 || k > c.NumExperts {
		return &ConfigError{Key: "num_experts_per_tok", Msg: fmt.Sprintf("%d is not between 1 and num_local_experts %d", k, c.NumExperts)}
	}
	c.ExpertsPerToken = k
	return nil
}

func (c *Config) parseFloats(r rawConfig, d arch.Variant, def func(string)) error {
	theta, ok, err := r.float("rope_theta")
	if err != nil {
		return err
	}
	if !ok {
		// transformers 5 keeps it in rope_parameters.rope_theta.
		if sub, present := r["rope_parameters"]; present {
			var rp map[string]json.RawMessage
			if json.Unmarshal(sub, &rp) == nil {
				theta, ok, err = rawConfig(rp).float("rope_theta")
				if err != nil {
					return err
				}
			}
		}
	}
	if err := positiveOr(&c.RopeTheta, "rope_theta", theta, ok, d.RopeTheta, def); err != nil {
		return err
	}
	eps, ok, err := r.float("rms_norm_eps")
	if err != nil {
		return err
	}
	return positiveOr(&c.RMSNormEps, "rms_norm_eps", eps, ok, d.NormEps, def)
}

// positiveOr stores v, the value of key, in *dst if key was given (ok);
// it must then be positive. Otherwise *dst takes the default dflt and key is
// reported to def as defaulted.
func positiveOr[T int | float64](dst *T, key string, v T, ok bool, dflt T, def func(string)) error {
	if !ok {
		*dst = dflt
		def(key)
		return nil
	}
	if !(v > 0) {
		return &ConfigError{Key: key, Msg: fmt.Sprintf("must be positive, got %v", v)}
	}
	*dst = v
	return nil
}

// rawConfig gives typed access to config.json keys; every accessor treats
// an absent key and a JSON null alike (ok false).
type rawConfig map[string]json.RawMessage

func isNull(m json.RawMessage) bool { return strings.TrimSpace(string(m)) == "null" }

func (r rawConfig) architecture() (archName, modelType string, err error) {
	modelType, _, err = r.string("model_type")
	if err != nil {
		return "", "", err
	}
	if m, present := r["architectures"]; present && !isNull(m) {
		var list []string
		if err := json.Unmarshal(m, &list); err != nil {
			return "", "", &ConfigError{Key: "architectures", Msg: "not a list of strings"}
		}
		for _, a := range list {
			if _, ok := arch.Mixtral.Variant("", a); ok {
				return a, modelType, nil
			}
		}
		return "", "", &ConfigError{Key: "architectures", Msg: unconverted(fmt.Sprintf("architecture %q", strings.Join(list, ", ")), modelType, list)}
	}
	for _, v := range arch.Mixtral.Variants {
		if v.ModelType == modelType {
			return v.Architecture, modelType, nil
		}
	}
	if modelType == "" {
		return "", "", &ConfigError{Key: "architectures", Msg: "missing, and no model_type either"}
	}
	return "", "", &ConfigError{Key: "model_type", Msg: unconverted(fmt.Sprintf("model type %q (and no architectures entry)", modelType), modelType, nil)}
}

// unconverted says that what a config names is no family model converts:
// one that only inspect knows, or one mxq does not know at all.
func unconverted(what, modelType string, archs []string) string {
	conv := "conversion supports " + strings.Join(arch.ConvertingNames(), ", ")
	f, ok := arch.ByModelType(modelType)
	for _, a := range archs {
		if ok {
			break
		}
		f, ok = arch.ByArchitecture(a)
	}
	if ok {
		return fmt.Sprintf("%s is %s, known to inspect; %s", what, f.Display, conv)
	}
	return fmt.Sprintf("unknown %s; mxq knows %s; %s", what, strings.Join(arch.Names(), ", "), conv)
}

func (r rawConfig) int(key string) (int, bool, error) {
	f, ok, err := r.float(key)
	if err != nil || !ok {
		return 0, ok, err
	}
	m := r[key]
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false, &ConfigError{Key: key, Msg: "not an integer: " + string(m)}
	}
	if f > math.MaxInt32 || f < math.MinInt32 {
		return 0, false, &ConfigError{Key: key, Msg: "out of range: " + string(m)}
	}
	return int(f), true, nil
}

func (r rawConfig) float(key string) (float64, bool, error) {
	m, present := r[key]
	if !present || isNull(m) {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(m, &f); err != nil {
		return 0, false, &ConfigError{Key: key, Msg: "not a number: " + string(m)}
	}
	return f, true, nil
}

func (r rawConfig) bool(key string) (bool, bool, error) {
	m, present := r[key]
	if !present || isNull(m) {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(m, &b); err != nil {
		return false, false, &ConfigError{Key: key, Msg: "not a boolean: " + string(m)}
	}
	return b, true, nil
}

func (r rawConfig) string(key string) (string, bool, error) {
	m, present := r[key]
	if !present || isNull(m) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(m, &s); err != nil {
		return "", false, &ConfigError{Key: key, Msg: "not a string: " + string(m)}
	}
	return s, true, nil
}

// tokenID accepts a single id or a list of ids (Llama 3 lists several end
// tokens); the first one is returned.
func (r rawConfig) tokenID(key string) (int, bool, error) {
	m, present := r[key]
	if !present || isNull(m) {
		return 0, false, nil
	}
	if t := strings.TrimSpace(string(m)); strings.HasPrefix(t, "[") {
		var ids []int
		if err := json.Unmarshal(m, &ids); err != nil {
			return 0, false, &ConfigError{Key: key, Msg: "not a token id or list of ids: " + string(m)}
		}
		if len(ids) == 0 {
			return 0, false, nil
		}
		return ids[0], true, nil
	}
	return r.int(key)
}
