package validate

import (
	"context"
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
	// Arithmetic of both models' products with their weight matrices
	// (forward.Float32 by default, or forward.BF16: faster, and a
	// coarser comparison, since both models then carry bfloat16's
	// rounding).
	Arithmetic forward.Arithmetic
	// Progress, if set, is called after each decoder layer with the layers
	// done and the layers the comparison runs in all.
	Progress func(done, total int64)
}

// progress reports step done of total when Progress is set.
func (o Options) progress(done, total int) {
	if o.Progress != nil {
		o.Progress(int64(done), int64(total))
	}
}

// EndToEnd runs both models on tokens and compares their next-token
// distributions and, for every MoE layer, their routing. Each model is run
// in turn, reading one expert at a time, so memory holds the logits of both
// and one layer's shared weights plus one expert. A cancelled ctx stops it
// within a fraction of a layer, with ctx's error.
func EndToEnd(ctx context.Context, ref, cand *Model, tokens []int, opts Options) (_ *Report, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	if err := compatible(ref, cand); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("validate: no tokens")
	}
	start := time.Now()
	layers := ref.Source.Dims().Layers
	done := 0
	run := func(m *Model) (*forward.Result, error) {
		res, err := forward.RunStreamed(ctx, m.Source, tokens, forward.StreamOptions{
			Options: forward.Options{Workers: opts.Workers, Arithmetic: opts.Arithmetic, Router: true},
			OnLayer: func(int, *forward.LayerResult) error {
				done++
				opts.progress(done, 2*layers)
				return nil
			},
		})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
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
		Mode:       "end-to-end",
		Reference:  ref.info(),
		Candidate:  cand.info(),
		Arithmetic: opts.Arithmetic.String(),
		Tokens:     len(tokens),
		Logits:     compareLogits(rr.Logits, cr.Logits, tokens),
	}
	for l := range rr.TopK {
		r.Routing = append(r.Routing, compareRouting(l, rr.TopK[l], cr.TopK[l], rr.TopKWeights[l], cr.TopKWeights[l]))
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}
