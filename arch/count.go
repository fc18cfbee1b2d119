package arch

// has reports whether layer carries tensor t.
func (m *Model) has(t *Tensor, layer int) bool {
	if t.In == nil {
		return layer >= 0 && layer < m.Layers+m.MTPLayers
	}
	return t.In(m, layer)
}

// HFTensors lists every tensor of the model's Hugging Face checkpoint in
// state_dict order: model-scope tensors, each layer (main layers, then the
// multi-token-prediction layers), then the tail.
func (m *Model) HFTensors() []Expected {
	f := m.Family
	perExpert := 0
	for i := range f.Tensors {
		if f.Tensors[i].Scope == ScopeExpert {
			perExpert++
		}
	}
	out := make([]Expected, 0, len(f.Tensors)+(m.Layers+m.MTPLayers)*(len(f.Tensors)+perExpert*max(m.Experts-1, 0)))
	add := func(t *Tensor, layer, expert int) {
		out = append(out, Expected{
			Name: format(t.HF, layer, expert), Shape: t.Shape(m), Role: t.Role, Part: t.Part,
			Layer: layer, Expert: expert, MTP: layer >= m.Layers, Keys: t.Keys, Packed: t.Packed, DType: t.DType,
		})
	}
	for i := range f.Tensors {
		if t := &f.Tensors[i]; t.Scope == ScopeModel && !t.Tail && m.hasModel(t) {
			add(t, -1, -1)
		}
	}
	for l := 0; l < m.Layers+m.MTPLayers; l++ {
		for i := 0; i < len(f.Tensors); i++ {
			t := &f.Tensors[i]
			if t.Scope == ScopeModel || !m.has(t, l) {
				continue
			}
			if t.Scope == ScopeLayer {
				add(t, l, -1)
				continue
			}
			// Experts form a ModuleList: all of expert 0's matrices, then
			// expert 1's, ...
			j := i
			for j < len(f.Tensors) && f.Tensors[j].Scope == ScopeExpert {
				j++
			}
			for e := 0; e < m.Experts; e++ {
				for k := i; k < j; k++ {
					if m.has(&f.Tensors[k], l) {
						add(&f.Tensors[k], l, e)
					}
				}
			}
			i = j - 1
		}
	}
	for i := range f.Tensors {
		if t := &f.Tensors[i]; t.Scope == ScopeModel && t.Tail && m.hasModel(t) {
			add(t, -1, -1)
		}
	}
	return out
}

func (m *Model) hasModel(t *Tensor) bool {
	if t.Part == PartOutput && m.TieEmbeddings {
		return false
	}
	return t.In == nil || t.In(m, -1)
}

// Breakdown counts parameters by part.
type Breakdown struct {
	Embedding     int64 `json:"embedding"`
	Attention     int64 `json:"attention"`
	Norms         int64 `json:"norms"`
	Router        int64 `json:"router"`
	Experts       int64 `json:"experts"`
	SharedExperts int64 `json:"shared_experts"`
	DenseFFN      int64 `json:"dense_ffn"`
	OutputHead    int64 `json:"output_head"`
	Projection    int64 `json:"projection,omitempty"`
	Unknown       int64 `json:"unknown"`
}

// Add counts n parameters toward part p.
func (b *Breakdown) Add(p Part, n int64) {
	switch p {
	case PartEmbedding:
		b.Embedding += n
	case PartAttention:
		b.Attention += n
	case PartNorm:
		b.Norms += n
	case PartRouter:
		b.Router += n
	case PartExperts:
		b.Experts += n
	case PartSharedExpert:
		b.SharedExperts += n
	case PartDenseFFN:
		b.DenseFFN += n
	case PartOutput:
		b.OutputHead += n
	case PartProjection:
		b.Projection += n
	default:
		b.Unknown += n
	}
}

// Total is the sum of every bucket.
func (b Breakdown) Total() int64 {
	return b.Embedding + b.Attention + b.Norms + b.Router + b.Experts + b.SharedExperts + b.DenseFFN + b.OutputHead + b.Projection + b.Unknown
}

// LayerCounts is one decoder layer's share.
type LayerCounts struct {
	Layer         int   `json:"layer"`
	MoE           bool  `json:"moe"`
	MTP           bool  `json:"mtp,omitempty"`
	Sliding       bool  `json:"sliding,omitempty"`
	Attention     int64 `json:"attention"`
	Norms         int64 `json:"norms"`
	Router        int64 `json:"router"`
	Experts       int64 `json:"experts"`
	PerExpert     int64 `json:"per_expert"`
	SharedExperts int64 `json:"shared_experts"`
	DenseFFN      int64 `json:"dense_ffn"`
	Other         int64 `json:"other,omitempty"` // MTP embedding, projections and head
	Total         int64 `json:"total"`
	Active        int64 `json:"active"`
}

// Counts is the parameter arithmetic of a model. The main model's figures
// leave out the multi-token-prediction layers, which MTP reports apart.
type Counts struct {
	NumExperts int `json:"num_experts"`
	TopK       int `json:"experts_per_token"`
	MoELayers  int `json:"moe_layers"`
	// DenseLayers have an MLP instead of experts.
	DenseLayers int `json:"dense_layers"`

	ByPart  Breakdown `json:"by_part"`
	Total   int64     `json:"total"`
	Shared  int64     `json:"shared"`  // everything but the routed experts
	Experts int64     `json:"experts"` // routed experts, all layers
	// PerExpertPerLayer is one routed expert of one MoE layer;
	// ExpertAcrossLayers one expert index over every MoE layer.
	PerExpertPerLayer  int64 `json:"per_expert_per_layer"`
	ExpertAcrossLayers int64 `json:"expert_across_layers"`
	// SharedExperts are the always-on experts; DenseLayerFFN the MLPs of
	// dense layers. Both are part of Shared.
	SharedExperts int64 `json:"shared_experts"`
	DenseLayerFFN int64 `json:"dense_layer_ffn"`
	// Active is shared + top-k routed experts per MoE layer.
	Active                   int64 `json:"active"`
	ActiveExcludingEmbedding int64 `json:"active_excluding_embedding"`

	// MTP is the multi-token-prediction module(s), MTPActive what one of
	// its tokens touches.
	MTP       int64     `json:"mtp"`
	MTPByPart Breakdown `json:"mtp_by_part"`
	MTPActive int64     `json:"mtp_active"`

	Layers []LayerCounts `json:"layers"`
}

// Count computes the parameter arithmetic from the config alone.
func (m *Model) Count() Counts {
	return Tally(m, m.HFTensors())
}

// Tally accumulates the parameters of tensors (as expected or as found in
// a checkpoint, with their layer and part) into Counts.
func Tally(m *Model, tensors []Expected) Counts {
	c := Counts{NumExperts: m.Experts, TopK: m.TopK}
	n := m.Layers + m.MTPLayers
	layers := make([]LayerCounts, n)
	for l := range layers {
		layers[l] = LayerCounts{Layer: l, MoE: m.IsMoELayer(l), MTP: l >= m.Layers, Sliding: m.IsSlidingLayer(l)}
	}
	for i := range tensors {
		t := &tensors[i]
		e := t.Elements()
		if t.Layer >= m.Layers && t.Layer < n {
			c.MTPByPart.Add(t.Part, e)
		} else {
			c.ByPart.Add(t.Part, e)
		}
		if t.Layer < 0 || t.Layer >= n {
			continue
		}
		lc := &layers[t.Layer]
		switch t.Part {
		case PartAttention:
			lc.Attention += e
		case PartNorm:
			lc.Norms += e
		case PartRouter:
			lc.Router += e
		case PartExperts:
			lc.Experts += e
		case PartSharedExpert:
			lc.SharedExperts += e
		case PartDenseFFN:
			lc.DenseFFN += e
		default:
			lc.Other += e
		}
	}
	k, ne := int64(max(m.TopK, 1)), int64(max(m.Experts, 1))
	for l := range layers {
		lc := &layers[l]
		lc.PerExpert = lc.Experts / ne
		lc.Total = lc.Attention + lc.Norms + lc.Router + lc.Experts + lc.SharedExperts + lc.DenseFFN + lc.Other
		lc.Active = lc.Total - lc.Experts + lc.Experts*k/ne
		if lc.MTP {
			c.MTPActive += lc.Active
			continue
		}
		if lc.MoE {
			c.MoELayers++
			c.PerExpertPerLayer = max(c.PerExpertPerLayer, lc.PerExpert)
		} else {
			c.DenseLayers++
		}
	}
	c.Layers = layers
	c.Total = c.ByPart.Total()
	c.Experts = c.ByPart.Experts
	c.Shared = c.Total - c.Experts
	c.SharedExperts = c.ByPart.SharedExperts
	c.DenseLayerFFN = c.ByPart.DenseFFN
	c.ExpertAcrossLayers = c.Experts / ne
	c.Active = c.Shared + c.Experts*k/ne
	c.ActiveExcludingEmbedding = c.Active - c.ByPart.Embedding
	c.MTP = c.MTPByPart.Total()
	return c
}

// KVElementsPerToken is the number of values one token adds to the KV
// cache over every main layer, sliding layers included.
func (m *Model) KVElementsPerToken() int64 {
	return m.Family.KV.Elements(m) * int64(m.Layers)
}
