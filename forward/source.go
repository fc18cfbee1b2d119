package forward

import "github.com/mxq-dev/mxq/model"

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
		QKNorm:        cfg.QKNorm,
		// Routing renormalises unless the config says otherwise.
		TopKUnnormalized: cfg.TopKUnnormalized,
	}
	if cfg.IsMoE() && cfg.ExpertIntermediateSize > 0 {
		d.Intermediate = cfg.ExpertIntermediateSize
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

// roleSource is the part of a Source that reads tensors by role through
// get: everything but the output head. Every Source of this package embeds
// one.
type roleSource struct {
	dims Dims
	get  tensorFunc
	// stored, if set, reads a tensor in its stored block format; the
	// attention matrices are then kept that way (LayerWeights.QQ...).
	stored func(r model.TensorRole) (*QuantMatrix, error)
}

func (s *roleSource) Dims() Dims { return s.dims }

func (s *roleSource) Embedding() ([]float32, error) {
	return s.get(globalRole(model.RoleEmbedding))
}

func (s *roleSource) OutputNorm() ([]float32, error) {
	return s.get(globalRole(model.RoleOutputNorm))
}

// Layer gathers layer i: its shared weights, then each expert in turn.
func (s *roleSource) Layer(i int) (*LayerWeights, error) {
	lw, err := s.LayerShared(i)
	if err != nil {
		return nil, err
	}
	lw.Experts = make([]Expert, s.dims.numExperts())
	for e := range lw.Experts {
		ex, err := s.Expert(i, e)
		if err != nil {
			return nil, err
		}
		lw.Experts[e] = *ex
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
