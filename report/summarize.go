package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/mxq-dev/mxq/quant"
)

// Summarize fills the totals, role and expert summaries and threshold
// breaches from r.Tensors.
func (r *Report) Summarize() {
	r.Schema = SchemaVersion
	r.Params, r.TensorBytes = 0, 0
	roles := map[string]*Role{}
	var order []string
	experts := map[[2]int]*Expert{}
	for _, t := range r.Tensors {
		r.Params += t.Params
		r.TensorBytes += t.Bytes
		ro := roles[t.Role]
		if ro == nil {
			ro = &Role{Role: t.Role, MinCosine: 1}
			roles[t.Role] = ro
			order = append(order, t.Role)
		}
		ro.Tensors++
		ro.Params += t.Params
		ro.Bytes += t.Bytes
		ro.MeanRelFrobenius += t.Metrics.RelFrobenius * float64(t.Params)
		ro.MeanMatmulRel += t.Metrics.MatmulRelError * float64(t.Params)
		if t.Metrics.RelFrobenius > ro.WorstRelFrobenius || ro.WorstTensor == "" {
			ro.WorstRelFrobenius, ro.WorstTensor = t.Metrics.RelFrobenius, t.Name
		}
		ro.MinCosine = math.Min(ro.MinCosine, t.Metrics.Cosine)

		switch {
		case len(t.Experts) > 0:
			for e, m := range t.Experts {
				addExpert(experts, t.Layer, e, t.Name, t.Params/int64(len(t.Experts)), m)
			}
		case t.Expert >= 0:
			addExpert(experts, t.Layer, t.Expert, t.Name, t.Params, t.Metrics)
		}
	}
	r.Roles = r.Roles[:0]
	for _, name := range order {
		ro := roles[name]
		if ro.Params > 0 {
			ro.MeanRelFrobenius /= float64(ro.Params)
			ro.MeanMatmulRel /= float64(ro.Params)
			ro.BitsPerWeight = float64(ro.Bytes*8) / float64(ro.Params)
		}
		r.Roles = append(r.Roles, *ro)
	}
	if r.Params > 0 {
		r.BitsPerWeight = float64(r.TensorBytes*8) / float64(r.Params)
	}
	r.Experts = r.Experts[:0]
	for _, e := range experts {
		if e.Params > 0 {
			e.MeanRelFrobenius /= float64(e.Params)
		}
		r.Experts = append(r.Experts, *e)
	}
	slices.SortFunc(r.Experts, func(a, b Expert) int {
		if c := cmp.Compare(b.WorstMatmulRel, a.WorstMatmulRel); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Expert, b.Expert))
	})
	r.checkThresholds()
}

func addExpert(m map[[2]int]*Expert, layer, expert int, tensor string, params int64, mt quant.Metrics) {
	k := [2]int{layer, expert}
	e := m[k]
	if e == nil {
		e = &Expert{Layer: layer, Expert: expert, MinCosine: 1}
		m[k] = e
	}
	e.Params += params
	e.MeanRelFrobenius += mt.RelFrobenius * float64(params)
	if mt.MatmulRelError > e.WorstMatmulRel || e.WorstProjection == "" {
		e.WorstMatmulRel, e.WorstProjection = mt.MatmulRelError, tensor
	}
	e.MinCosine = math.Min(e.MinCosine, mt.Cosine)
	if w := mt.ImatrixError; w != nil && (e.WorstImatrixError == nil || *w > *e.WorstImatrixError) {
		v := *w
		e.WorstImatrixError = &v
	}
}

func (r *Report) checkThresholds() {
	r.Breaches = []Breach{}
	if r.DryRun {
		return // nothing was measured
	}
	for _, t := range r.Tensors {
		// A value the output cannot hold is a breach whatever the
		// thresholds: no error figure may hide it.
		if n := t.Metrics.NaNOut + t.Metrics.InfOut - t.Metrics.NaNIn - t.Metrics.InfIn; n > 0 {
			r.Breaches = append(r.Breaches, Breach{Tensor: t.Name, Metric: "non_finite_values", Value: float64(n)})
		}
		if th := r.Thresholds.MaxRelError; th > 0 && t.Metrics.RelFrobenius > th {
			r.Breaches = append(r.Breaches, Breach{Tensor: t.Name, Metric: "rel_frobenius", Value: t.Metrics.RelFrobenius, Threshold: th})
		}
		if th := r.Thresholds.MinCosine; th > 0 && t.Metrics.Cosine < th {
			r.Breaches = append(r.Breaches, Breach{Tensor: t.Name, Metric: "cosine", Value: t.Metrics.Cosine, Threshold: th})
		}
	}
}

// Validate refuses thresholds no tensor can be held to: a negative or
// non-finite maximum error, a minimum cosine outside [-1, 1].
func (t Thresholds) Validate() error {
	if !(t.MaxRelError >= 0) || math.IsInf(t.MaxRelError, 0) {
		return fmt.Errorf("--max-rel-error must be a finite number ≥ 0, got %g", t.MaxRelError)
	}
	if !(t.MinCosine >= -1 && t.MinCosine <= 1) {
		return fmt.Errorf("--min-cosine must be between -1 and 1, got %g", t.MinCosine)
	}
	return nil
}

// Failed reports whether any threshold was breached.
func (r *Report) Failed() bool { return len(r.Breaches) > 0 }
