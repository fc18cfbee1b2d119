package validate

import (
	"fmt"
	"time"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/internal/safetext"
)

// Options tune a comparison.
type Options struct {
	// Workers bounds the goroutines of each matrix product; <= 0 means
	// GOMAXPROCS. Results do not depend on it.
	Workers int
}

// EndToEnd runs both models on tokens and compares their next-token
// distributions and, for every MoE layer, their routing. Each model is run
// in turn, reading one expert at a time, so memory holds the logits of both
// and one layer's shared weights plus one expert.
func EndToEnd(ref, cand *Model, tokens []int, opts Options) (_ *Report, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	if err := compatible(ref, cand); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("validate: no tokens")
	}
	start := time.Now()
	run := func(m *Model) (*forward.Result, error) {
		res, err := forward.RunStreamed(m.Source, tokens, forward.StreamOptions{Options: forward.Options{Workers: opts.Workers, Router: true}})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Path, err)
		}
		if p, v, bad := firstNonFinite(res.Logits); bad {
			return nil, fmt.Errorf("validate: %s: logit %d at position %d is %v", m.Path, v, p, res.Logits[p][v])
		}
		return res, nil
	}
	rr, err := run(ref)
	if err != nil {
		return nil, err
	}
	cr, err := run(cand)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Mode:      "end-to-end",
		Reference: ref.info(),
		Candidate: cand.info(),
		Tokens:    len(tokens),
		Logits:    compareLogits(rr.Logits, cr.Logits, tokens),
	}
	for l := range rr.TopK {
		r.Routing = append(r.Routing, compareRouting(l, rr.TopK[l], cr.TopK[l], rr.TopKWeights[l], cr.TopKWeights[l]))
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}
