package validate

import "fmt"

// Report is the result of a comparison. New fields may be added; none are
// removed or renamed (scripts read the JSON).
type Report struct {
	// Mode is "end-to-end" or "layer-wise".
	Mode      string    `json:"mode"`
	Reference ModelInfo `json:"reference"`
	Candidate ModelInfo `json:"candidate"`
	// Arithmetic is that of both forward passes: "float32" or "bf16".
	Arithmetic string `json:"arithmetic"`
	// Tokens is the number of positions compared (rows of hidden states
	// in layer-wise mode).
	Tokens int `json:"tokens"`
	// Logits compares the next-token distributions (end-to-end only).
	Logits *LogitStats `json:"logits,omitempty"`
	// Routing holds, per MoE layer, how the candidate's expert choices
	// differ from the reference's (end-to-end; nil for a dense model).
	Routing []RoutingStats `json:"routing,omitempty"`
	// Layers holds the MoE-block comparisons of layer-wise mode.
	Layers []LayerStats `json:"layers,omitempty"`
	// States says where layer-wise mode took its hidden states.
	States *StatesInfo `json:"states,omitempty"`

	Thresholds Thresholds `json:"thresholds"`
	// Breaches lists every threshold the candidate missed.
	Breaches []string `json:"breaches,omitempty"`
	// Seconds is the wall-clock time of both forward passes.
	Seconds float64 `json:"seconds"`
}

// ModelInfo identifies a compared model.
type ModelInfo struct {
	Path          string  `json:"path"`
	Format        string  `json:"format"`
	Params        int64   `json:"params"`
	BitsPerWeight float64 `json:"bits_per_weight"`
}

// Distribution summarises a per-position quantity.
type Distribution struct {
	Mean float64 `json:"mean"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// LogitStats compares two runs' next-token distributions.
type LogitStats struct {
	Positions int `json:"positions"`
	// KLD is KL(reference ‖ candidate) of the softmax at each position,
	// in nats.
	KLD Distribution `json:"kld"`
	// Top1Agreement is the share of positions whose most likely next
	// token is the same (Top1Same of Positions).
	Top1Agreement float64 `json:"top1_agreement"`
	Top1Same      int     `json:"top1_same"`
	// Perplexity of each model on the tokens themselves: exp of the mean
	// negative log-likelihood of token t+1 at position t, t = 0..n−2
	// (0 with fewer than two tokens).
	PerplexityReference float64 `json:"perplexity_reference"`
	PerplexityCandidate float64 `json:"perplexity_candidate"`
}

// RoutingStats compares the expert choices of one MoE layer.
type RoutingStats struct {
	Layer  int `json:"layer"`
	Tokens int `json:"tokens"`
	// Agreement is the share of tokens whose set of top-k experts is the
	// same in both models (Same of Tokens), order ignored.
	Agreement float64 `json:"agreement"`
	Same      int     `json:"same"`
	// Overlap is the mean over tokens of |S_ref ∩ S_cand| / k: partial
	// credit when one of the k experts changed.
	Overlap float64 `json:"overlap"`
	// WeightL1 is the mean over tokens of Σ_e |w_ref(e) − w_cand(e)|,
	// summed over the union of both models' chosen experts, where w(e) is
	// the renormalised top-k routing weight (0 for an expert the model
	// did not choose). It is 0 for identical routing and 2 at most.
	WeightL1 float64 `json:"weight_l1"`
}

// LayerStats compares the reference and candidate MoE blocks of one layer
// on the same input states.
type LayerStats struct {
	RoutingStats
	// RelError is ‖y_cand − y_ref‖ / ‖y_ref‖ over all tokens' block
	// outputs (Frobenius norms), Cosine their cosine similarity as flat
	// vectors, MaxAbsError the largest element difference.
	RelError    float64 `json:"rel_error"`
	Cosine      float64 `json:"cosine"`
	MaxAbsError float64 `json:"max_abs_error"`
}

// StatesInfo says how layer-wise mode obtained the MoE inputs.
type StatesInfo struct {
	// Source is "reference" (the reference model's own hidden states on
	// the tokens) or "random" (seeded synthetic states, see the package
	// documentation).
	Source string `json:"source"`
	Seed   uint64 `json:"seed,omitempty"`
}

// Thresholds are the limits a candidate must stay within; nil fields are
// not checked.
type Thresholds struct {
	// MaxKLD bounds the mean KL divergence (nats).
	MaxKLD *float64 `json:"max_kld,omitempty"`
	// MinTop1 is the least top-1 agreement.
	MinTop1 *float64 `json:"min_top1,omitempty"`
	// MinRoutingAgreement is the least routing agreement of every layer.
	MinRoutingAgreement *float64 `json:"min_routing_agreement,omitempty"`
	// MaxMoEError bounds every layer's MoE output relative error
	// (layer-wise mode).
	MaxMoEError *float64 `json:"max_moe_error,omitempty"`
}

// Check records in r.Breaches every threshold of th that r misses, and
// stores th in the report.
func (r *Report) Check(th Thresholds) {
	r.Thresholds = th
	r.Breaches = nil
	if r.Logits != nil {
		if th.MaxKLD != nil && r.Logits.KLD.Mean > *th.MaxKLD {
			r.Breaches = append(r.Breaches, fmt.Sprintf("mean KLD %.6g exceeds --max-kld %g", r.Logits.KLD.Mean, *th.MaxKLD))
		}
		if th.MinTop1 != nil && r.Logits.Top1Agreement < *th.MinTop1 {
			r.Breaches = append(r.Breaches, fmt.Sprintf("top-1 agreement %.4f is below --min-top1 %g", r.Logits.Top1Agreement, *th.MinTop1))
		}
	}
	routing := r.Routing
	for _, l := range r.Layers {
		routing = append(routing, l.RoutingStats)
		if th.MaxMoEError != nil && l.RelError > *th.MaxMoEError {
			r.Breaches = append(r.Breaches, fmt.Sprintf("layer %d: MoE output relative error %.4g exceeds --max-moe-error %g", l.Layer, l.RelError, *th.MaxMoEError))
		}
	}
	if th.MinRoutingAgreement != nil {
		for _, l := range routing {
			if l.Agreement < *th.MinRoutingAgreement {
				r.Breaches = append(r.Breaches, fmt.Sprintf("layer %d: routing agreement %.4f is below --min-routing-agreement %g", l.Layer, l.Agreement, *th.MinRoutingAgreement))
			}
		}
	}
}

// Failed reports whether a threshold was breached.
func (r *Report) Failed() bool { return len(r.Breaches) > 0 }
