package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mxq-dev/mxq/arch"
)

// FamilyQwen3MoE is Config.Family of a Qwen3-MoE checkpoint.
var FamilyQwen3MoE = familyName(arch.Qwen3MoE)

// familyOf finds a converting family beyond the Llama layout (arch.Mixtral,
// read by ParseConfig itself), by model_type first, then architectures, as
// package arch identifies one.
func familyOf(r rawConfig) (*arch.Family, bool) {
	var f *arch.Family
	mt, _, _ := r.string("model_type")
	if byType, ok := arch.ByModelType(mt); ok {
		f = byType
	} else {
		var archs []string
		_ = json.Unmarshal(r["architectures"], &archs)
		for _, a := range archs {
			if byArch, ok := arch.ByArchitecture(a); ok {
				f = byArch
				break
			}
		}
	}
	return f, f != nil && f.Converts && f != arch.Mixtral
}

// parseFamily describes a config.json of family f from package arch's
// reading of it, which holds the family's keys and transformers defaults.
func parseFamily(data []byte, f *arch.Family) (*Config, error) {
	ac, err := arch.ParseConfig(data, "")
	if err != nil {
		return nil, asConfigError(err)
	}
	m, err := ac.Model()
	if err != nil {
		return nil, asConfigError(err)
	}
	if m.Family != f {
		return nil, &ConfigError{Key: "model_type", Msg: fmt.Sprintf("%q is not %s", m.ModelType, f.Display)}
	}
	if slices.Contains(m.MoELayers, false) {
		return nil, &ConfigError{Key: "mlp_only_layers", Msg: "layers with a dense MLP (mlp_only_layers, decoder_sparse_step) are not supported"}
	}
	if m.AttentionBias {
		return nil, &ConfigError{Key: "attention_bias", Msg: "attention biases are not supported"}
	}
	r := rawConfig{}
	if err := json.Unmarshal(data, (*map[string]json.RawMessage)(&r)); err != nil {
		return nil, &ConfigError{Msg: "not a JSON object: " + err.Error()}
	}
	c := &Config{
		Architecture:           m.Architecture,
		ModelType:              m.ModelType,
		HiddenSize:             m.Hidden,
		IntermediateSize:       m.Intermediate,
		NumLayers:              m.Layers,
		NumHeads:               m.Heads,
		NumKVHeads:             m.KVHeads,
		HeadDim:                m.HeadDim,
		NumExperts:             m.Experts,
		ExpertsPerToken:        m.TopK,
		VocabSize:              m.Vocab,
		MaxPositionEmbeddings:  m.MaxPositions,
		SlidingWindow:          m.SlidingWindow,
		RopeTheta:              m.RopeTheta,
		RMSNormEps:             m.NormEps,
		TieWordEmbeddings:      m.TieEmbeddings,
		TorchDType:             m.TorchDType,
		Family:                 familyName(f),
		ExpertIntermediateSize: m.ExpertIntermediate,
		QKNorm:                 f.Has("attn_q_norm"),
		TopKUnnormalized:       !m.NormTopK,
		Defaulted:              m.Defaulted,
		BOSTokenID:             -1,
		EOSTokenID:             -1,
	}
	if c.Architecture == "" {
		c.Architecture = f.Architectures[0]
	}
	for _, t := range []struct {
		key string
		dst *int
	}{{"bos_token_id", &c.BOSTokenID}, {"eos_token_id", &c.EOSTokenID}} {
		if v, ok, err := r.tokenID(t.key); err != nil {
			return nil, err
		} else if ok {
			*t.dst = v
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// asConfigError carries arch's key and message over.
func asConfigError(err error) error {
	var ae *arch.ConfigError
	if errors.As(err, &ae) {
		return &ConfigError{File: ae.File, Key: ae.Key, Msg: ae.Msg}
	}
	return &ConfigError{Msg: err.Error()}
}
