package validate

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mxq-dev/mxq/internal/safetext"
)

// WriteText prints the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.f("mxq validate (%s, %d %s, %.2f s)\n", r.Mode, r.Tokens, r.unit(), r.Seconds)
	p.f("  reference  %s  (%s, %.2f bits/weight)\n", r.Reference.Path, r.Reference.Format, r.Reference.BitsPerWeight)
	p.f("  candidate  %s  (%s, %.2f bits/weight)\n", r.Candidate.Path, r.Candidate.Format, r.Candidate.BitsPerWeight)
	if r.Arithmetic != "" {
		p.f("  arithmetic %s\n", r.Arithmetic)
	}
	if s := r.States; s != nil {
		if s.Source == "random" {
			p.f("  states     random: norm weight ⊙ unit-RMS Gaussian, seed %d\n", s.Seed)
		} else {
			p.f("  states     the reference model's own, on the tokens\n")
		}
	}
	if l := r.Logits; l != nil {
		p.f("\nnext-token distribution, KL(reference ‖ candidate) in nats\n")
		p.f("  mean %.6f   p99 %.6f   max %.6f\n", l.KLD.Mean, l.KLD.P99, l.KLD.Max)
		p.f("  top-1 agreement %.2f%% (%d of %d positions)\n", 100*l.Top1Agreement, l.Top1Same, l.Positions)
		if l.Positions >= 2 {
			p.f("  perplexity on the tokens: reference %.4f, candidate %.4f (%+.3f%%)\n",
				l.PerplexityReference, l.PerplexityCandidate, 100*(l.PerplexityCandidate/l.PerplexityReference-1))
		}
	}
	if len(r.Routing) > 0 {
		p.f("\nexpert routing per layer\n")
		tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "layer\tsame top-k set\toverlap\tmean Σ|Δw|\t\n")
		for _, s := range r.Routing {
			fmt.Fprintf(tw, "%d\t%.2f%% (%d/%d)\t%.2f%%\t%.4f\t\n", s.Layer, 100*s.Agreement, s.Same, s.Tokens, 100*s.Overlap, s.WeightL1)
		}
		if err := tw.Flush(); p.err == nil {
			p.err = err
		}
	}
	if len(r.Layers) > 0 {
		p.f("\nMoE blocks on the same inputs\n")
		tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "layer\trel. error\tcosine\tmax |Δ|\tsame top-k set\toverlap\tmean Σ|Δw|\t\n")
		for _, s := range r.Layers {
			fmt.Fprintf(tw, "%d\t%.4g\t%.6f\t%.4g\t%.2f%% (%d/%d)\t%.2f%%\t%.4f\t\n", s.Layer, s.RelError, s.Cosine, s.MaxAbsError,
				100*s.Agreement, s.Same, s.Tokens, 100*s.Overlap, s.WeightL1)
		}
		if err := tw.Flush(); p.err == nil {
			p.err = err
		}
	}
	switch {
	case len(r.Breaches) > 0:
		p.f("\nthresholds BREACHED:\n")
		for _, b := range r.Breaches {
			p.f("  %s\n", b)
		}
	case r.Thresholds != (Thresholds{}):
		p.f("\nall thresholds met\n")
	}
	return p.err
}

func (r *Report) unit() string {
	if r.States != nil && r.States.Source == "random" {
		return "states per layer"
	}
	return "tokens"
}

// printer keeps the first write error so the report code stays linear.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, safetext.Args(args)...)
	}
}
