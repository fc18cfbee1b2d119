package forward

import (
	"fmt"

	"github.com/mxq-dev/mxq/model"
)

// DimsFromConfig derives the forward-pass dimensions of a Hugging Face
// checkpoint (rotate-half RoPE) from its config.
func DimsFromConfig(cfg *model.Config) Dims {
	d := Dims{
		Hidden:        cfg.HiddenSize,
		Intermediate:  cfg.IntermediateSize,
		Layers:        cfg.NumLayers,
		Heads:         cfg.NumHeads,
		KVHeads:       cfg.NumKVHeads,
		HeadDim:       cfg.HeadDim,
		Experts:       cfg.NumExperts,
		TopK:          cfg.ExpertsPerToken,
		Vocab:         cfg.VocabSize,
		SlidingWindow: cfg.SlidingWindow,
		RopeTheta:     cfg.RopeTheta,
		RMSEps:        cfg.RMSNormEps,
		RopeStyle:     RopeNeoX,
	}
	if d.HeadDim == 0 && d.Heads > 0 {
		d.HeadDim = d.Hidden / d.Heads
	}
	if d.Dense() {
		d.Experts, d.TopK = 1, 1
	}
	return d
}

// tensorFunc loads one tensor by role, in Hugging Face orientation, with
// its shape already checked. Expert roles carry the expert index.
type tensorFunc func(r model.TensorRole) ([]float32, error)

func layerRole(r model.Role, layer int) model.TensorRole {
	return model.TensorRole{Role: r, Layer: layer, Expert: -1}
}

func globalRole(r model.Role) model.TensorRole {
	return model.TensorRole{Role: r, Layer: -1, Expert: -1}
}

// loadLayer gathers layer l through get.
func loadLayer(d Dims, l int, get tensorFunc) (*LayerWeights, error) {
	if l < 0 || l >= d.Layers {
		return nil, fmt.Errorf("forward: layer %d out of range [0,%d)", l, d.Layers)
	}
	lw := &LayerWeights{}
	for _, t := range []struct {
		dst  *[]float32
		role model.Role
	}{
		{&lw.AttnNorm, model.RoleAttnNorm},
		{&lw.Q, model.RoleAttnQ},
		{&lw.K, model.RoleAttnK},
		{&lw.V, model.RoleAttnV},
		{&lw.O, model.RoleAttnOutput},
		{&lw.FFNNorm, model.RoleFFNNorm},
	} {
		w, err := get(layerRole(t.role, l))
		if err != nil {
			return nil, err
		}
		*t.dst = w
	}
	if d.Dense() {
		var ex Expert
		var err error
		if ex.Gate, err = get(layerRole(model.RoleFFNGate, l)); err != nil {
			return nil, err
		}
		if ex.Down, err = get(layerRole(model.RoleFFNDown, l)); err != nil {
			return nil, err
		}
		if ex.Up, err = get(layerRole(model.RoleFFNUp, l)); err != nil {
			return nil, err
		}
		lw.Experts = []Expert{ex}
		return lw, nil
	}
	var err error
	if lw.Router, err = get(layerRole(model.RoleRouter, l)); err != nil {
		return nil, err
	}
	lw.Experts = make([]Expert, d.Experts)
	for e := range lw.Experts {
		ex := &lw.Experts[e]
		for _, t := range []struct {
			dst  *[]float32
			role model.Role
		}{{&ex.Gate, model.RoleExpertGate}, {&ex.Down, model.RoleExpertDown}, {&ex.Up, model.RoleExpertUp}} {
			w, err := get(model.TensorRole{Role: t.role, Layer: l, Expert: e})
			if err != nil {
				return nil, err
			}
			*t.dst = w
		}
	}
	return lw, nil
}

func sameShape(a []int64, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
