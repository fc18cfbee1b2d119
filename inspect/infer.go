package inspect

import (
	"fmt"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/model"
)

// inferHF rebuilds a Config from Hugging Face tensor shapes when no
// config.json is available. Shapes fix every parameter count; what they
// cannot tell (the split of q_proj rows into heads, top-k, the context
// length, rope settings) is assumed and reported as findings.
func inferHF(recs []tensorRec) (*model.Config, []Finding, error) {
	byRole := map[model.Role][]int64{}
	layers, experts := 0, 0
	for _, r := range recs {
		if r.Role.Role == model.RoleUnknown {
			continue
		}
		if _, seen := byRole[r.Role.Role]; !seen {
			byRole[r.Role.Role] = r.Shape
		}
		layers = max(layers, r.Role.Layer+1)
		experts = max(experts, r.Role.Expert+1)
	}
	dim := func(r model.Role, i int) int {
		s := byRole[r]
		if i < len(s) && s[i] > 0 && s[i] < 1<<31 {
			return int(s[i])
		}
		return 0
	}
	c := &model.Config{
		NumLayers: layers, RopeTheta: 1e6, RMSNormEps: 1e-5, BOSTokenID: 1, EOSTokenID: 2,
		MaxPositionEmbeddings: 4096,
	}
	c.VocabSize, c.HiddenSize = dim(model.RoleEmbedding, 0), dim(model.RoleEmbedding, 1)
	if c.VocabSize == 0 {
		c.VocabSize, c.HiddenSize = dim(model.RoleOutput, 0), dim(model.RoleOutput, 1)
	}
	_, hasHead := byRole[model.RoleOutput]
	c.TieWordEmbeddings = !hasHead
	if e := dim(model.RoleRouter, 0); e > 0 {
		experts = e
	}
	// Tensors with the Llama layout's names: a variant of arch.Mixtral.
	v, _ := arch.Mixtral.VariantFor(experts > 1)
	c.Architecture, c.ModelType = v.Architecture, v.ModelType
	if experts > 1 {
		c.NumExperts, c.ExpertsPerToken = experts, min(2, experts)
		c.IntermediateSize = dim(model.RoleExpertGate, 0)
	} else {
		c.NumExperts, c.ExpertsPerToken = 1, 1
		c.IntermediateSize = dim(model.RoleFFNGate, 0)
	}
	qRows, kRows := dim(model.RoleAttnQ, 0), dim(model.RoleAttnK, 0)
	c.HeadDim = 128
	for _, hd := range []int{128, 64, 256, 96, 80, 32} {
		if qRows > 0 && kRows > 0 && qRows%hd == 0 && kRows%hd == 0 {
			c.HeadDim = hd
			break
		}
	}
	if qRows > 0 && kRows > 0 {
		c.NumHeads, c.NumKVHeads = qRows/c.HeadDim, kRows/c.HeadDim
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("inspect: no config.json, and the tensors do not describe a Mixtral/Mistral/Llama model: %w", err)
	}
	notes := []Finding{{SeverityWarning, "config-inferred", fmt.Sprintf(
		"no config.json: the config was inferred from tensor shapes, assuming head_dim %d (%d heads, %d KV heads), top-%d routing, a 4096-token context, rope_theta 1e6",
		c.HeadDim, c.NumHeads, c.NumKVHeads, c.ExpertsPerToken)}}
	return c, notes, nil
}
