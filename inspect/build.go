package inspect

import (
	"fmt"

	"github.com/mxq-dev/mxq/model"
)

// build turns a loaded source into a report.
func build(l *loaded, o resolved) (*Report, error) {
	cfg := l.cfg
	r := &Report{
		Schema:       SchemaVersion,
		Source:       l.source,
		Config:       cfg,
		ConfigOrigin: l.origin,
		Findings:     append([]Finding{}, l.notes...),
	}
	if cfg == nil {
		r.Checkpoint = l.ckpt
		if len(l.tensors) > 0 {
			r.Survey = survey(l.tensors)
		}
		r.Findings = append(r.Findings, ggufFamilyFindings(l)...)
		sortFindings(r.Findings)
		return r, nil
	}
	if len(l.tensors) == 0 && l.ckpt != nil && l.ckpt.Format == "gguf" {
		// A metadata-only GGUF (a vocabulary file): count from its config.
		r.Params = paramsFromConfig(cfg)
		r.Checkpoint = l.ckpt
		l.ckpt.Unrecognized, l.ckpt.Missing, l.ckpt.ShapeMismatches = []TensorBrief{}, []string{}, []ShapeMismatch{}
		l.tensors = nil
	} else if l.tensors != nil || l.ckpt != nil {
		l.ckpt.Unrecognized = []TensorBrief{}
		l.ckpt.Missing = []string{}
		l.ckpt.ShapeMismatches = []ShapeMismatch{}
		var f []Finding
		r.Params, f = account(l)
		r.Findings = append(r.Findings, f...)
		r.Checkpoint = l.ckpt
	} else {
		r.Params = paramsFromConfig(cfg)
	}
	r.Naive = naiveView(r.Params)
	r.Reference = referenceFigures(cfg, r.Params)
	r.Findings = append(r.Findings, configFindings(cfg, l.origin)...)

	mem, settings, f, err := memoryReport(l, r.Params, o)
	if err != nil {
		return nil, err
	}
	r.Memory, r.Settings = mem, settings
	r.Findings = append(r.Findings, f...)
	sortFindings(r.Findings)
	return r, nil
}

func naiveView(p ParamReport) *NaiveView {
	if p.NumExperts <= 1 {
		return nil
	}
	e := int64(p.NumExperts)
	dense := p.Shared + p.ExpertAcrossLayers
	v := &NaiveView{
		NumExperts:      p.NumExperts,
		DenseEquivalent: dense,
		NaiveTotal:      e * dense,
		RealTotal:       p.Total,
	}
	v.Overcount = v.NaiveTotal - v.RealTotal
	v.Explanation = fmt.Sprintf(
		"Only the feed-forward experts are replicated: each layer has %d expert MLPs, while attention, embeddings, norms and the router exist once and are shared by all of them. "+
			"\"%d × %s\" counts those %s shared parameters %d times, so it overstates the real %s by %d × %s = %s. "+
			"Each token runs the shared part plus %d of the %d experts per layer: %s active parameters.",
		p.NumExperts, p.NumExperts, short(dense), short(p.Shared), p.NumExperts, short(p.Total),
		p.NumExperts-1, short(p.Shared), short(v.Overcount), p.ExpertsPerToken, p.NumExperts, short(p.Active))
	return v
}

func referenceFigures(cfg *model.Config, p ParamReport) ReferenceFigures {
	var largest int64
	for _, l := range p.Layers {
		largest = max(largest, l.Total)
	}
	return ReferenceFigures{
		TransformersExcludingEmbeddings: p.Total - p.ByGroup.Embedding,
		AccelerateEstimateMemoryParams:  p.Total - p.ByGroup.OutputHead,
		FP32Bytes:                       4 * p.Total,
		RotaryBufferBytes:               2 * int64(cfg.HeadDim/2) * 4,
		LargestLayerFP32Bytes:           4 * largest,
	}
}

func configFindings(cfg *model.Config, origin string) []Finding {
	var f []Finding
	if len(cfg.Defaulted) > 0 && origin == "config.json" {
		f = append(f, Finding{SeverityInfo, "config-defaults",
			"config.json lacks " + list(cfg.Defaulted, 12) + "; the transformers defaults for model_type " + cfg.ModelType + " were used"})
	}
	if cfg.SlidingWindow > 0 {
		f = append(f, Finding{SeverityInfo, "sliding-window", fmt.Sprintf(
			"config.json declares sliding_window %d; llama.cpp's llama architecture does not apply it, so the KV cache is sized for the full context", cfg.SlidingWindow)})
	}
	return f
}
