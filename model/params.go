package model

// Breakdown counts parameters by what they do.
type Breakdown struct {
	Embedding  int64 `json:"embedding"`
	Attention  int64 `json:"attention"` // q, k, v and o projections
	Norms      int64 `json:"norms"`     // every RMSNorm weight, final norm included
	Router     int64 `json:"router"`
	Experts    int64 `json:"experts"`   // every expert of every layer
	DenseFFN   int64 `json:"dense_ffn"` // MLP of dense models
	OutputHead int64 `json:"output_head"`
	Unknown    int64 `json:"unknown"` // tensors no role matched
}

func (b *Breakdown) add(g Group, n int64) {
	switch g {
	case GroupEmbedding:
		b.Embedding += n
	case GroupAttention:
		b.Attention += n
	case GroupNorm:
		b.Norms += n
	case GroupRouter:
		b.Router += n
	case GroupExperts:
		b.Experts += n
	case GroupDenseFFN:
		b.DenseFFN += n
	case GroupOutput:
		b.OutputHead += n
	default:
		b.Unknown += n
	}
}

// Total is the sum of every bucket.
func (b Breakdown) Total() int64 {
	return b.Embedding + b.Attention + b.Norms + b.Router + b.Experts + b.DenseFFN + b.OutputHead + b.Unknown
}

// Shared is everything every token uses: all but the experts.
func (b Breakdown) Shared() int64 { return b.Total() - b.Experts }

// LayerParams is one decoder layer's share.
type LayerParams struct {
	Layer     int   `json:"layer"`
	Attention int64 `json:"attention"`
	Norms     int64 `json:"norms"`
	Router    int64 `json:"router"`
	Experts   int64 `json:"experts"`    // all experts of the layer
	PerExpert int64 `json:"per_expert"` // one expert (experts / num_experts)
	DenseFFN  int64 `json:"dense_ffn"`
	Total     int64 `json:"total"`
	Active    int64 `json:"active"` // shared part of the layer + top-k experts
}

// Params is the parameter arithmetic of a model.
type Params struct {
	NumExperts      int `json:"num_experts"`
	ExpertsPerToken int `json:"experts_per_token"`

	ByGroup Breakdown `json:"by_group"`
	Total   int64     `json:"total"`
	Shared  int64     `json:"shared"`  // not replicated per expert
	Experts int64     `json:"experts"` // all experts, all layers

	// ExpertAcrossLayers is one expert index over every layer
	// (experts / num_experts): what "one of the 8 experts" weighs.
	ExpertAcrossLayers int64 `json:"expert_across_layers"`

	// Active is what one token touches: shared + top-k experts per layer.
	Active int64 `json:"active"`
	// ActiveExcludingEmbedding leaves out the embedding table, of which a
	// token reads one row.
	ActiveExcludingEmbedding int64 `json:"active_excluding_embedding"`

	Layers []LayerParams `json:"layers"`
}

// DenseEquivalent is shared + one expert per layer: the "7B" of "8x7B".
func (p Params) DenseEquivalent() int64 { return p.Shared + p.ExpertAcrossLayers }

// NaiveTotal is num_experts × DenseEquivalent: what "8 × 7B" suggests,
// counting the shared weights once per expert.
func (p Params) NaiveTotal() int64 { return int64(p.NumExperts) * p.DenseEquivalent() }

// Tally accumulates tensor element counts into Params. The zero value is
// not usable; create one with NewTally.
type Tally struct {
	numExperts, topK int
	by               Breakdown
	layers           []Breakdown
}

// NewTally prepares a tally for a model with the given layer count and
// expert configuration (numExperts 1 and topK 1 for dense models).
func NewTally(numLayers, numExperts, topK int) *Tally {
	if numExperts < 1 {
		numExperts = 1
	}
	if topK < 1 {
		topK = 1
	}
	t := &Tally{numExperts: numExperts, topK: topK}
	t.grow(numLayers - 1)
	return t
}

func (t *Tally) grow(layer int) {
	for len(t.layers) <= layer && layer < maxIndex {
		t.layers = append(t.layers, Breakdown{})
	}
}

// Add counts n parameters of a tensor with role r. A merged GGUF expert
// tensor (Expert AllExperts) counts as all of its layer's experts.
func (t *Tally) Add(r TensorRole, n int64) {
	g := r.Role.Group()
	t.by.add(g, n)
	if r.Layer < 0 || r.Layer >= maxIndex {
		return
	}
	t.grow(r.Layer)
	t.layers[r.Layer].add(g, n)
}

// Params returns the counts so far.
func (t *Tally) Params() Params {
	k, e := int64(t.topK), int64(t.numExperts)
	p := Params{
		NumExperts:      t.numExperts,
		ExpertsPerToken: t.topK,
		ByGroup:         t.by,
		Total:           t.by.Total(),
		Shared:          t.by.Shared(),
		Experts:         t.by.Experts,
		Layers:          make([]LayerParams, len(t.layers)),
	}
	p.ExpertAcrossLayers = p.Experts / e
	p.Active = p.Shared + p.Experts*k/e
	p.ActiveExcludingEmbedding = p.Active - p.ByGroup.Embedding
	for i, b := range t.layers {
		// LayerParams has no embedding, output or unknown bucket: only
		// the model's totals count those.
		lp := LayerParams{Layer: i, Attention: b.Attention, Norms: b.Norms, Router: b.Router, Experts: b.Experts, DenseFFN: b.DenseFFN}
		lp.PerExpert = lp.Experts / e
		lp.Total = lp.Attention + lp.Norms + lp.Router + lp.Experts + lp.DenseFFN
		lp.Active = lp.Total - lp.Experts + lp.Experts*k/e
		p.Layers[i] = lp
	}
	return p
}

// Params computes the parameter arithmetic from the config alone.
func (c *Config) Params() Params {
	t := NewTally(c.NumLayers, c.NumExperts, c.ExpertsPerToken)
	for _, e := range c.HFTensors() {
		t.Add(e.Role, e.NumElements())
	}
	return t.Params()
}
