package inspect

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/internal/safeio"
	"github.com/mxq-dev/mxq/model"
)

// ArchReport describes a model of a family that arch/ declares (Qwen3-MoE,
// Qwen2-MoE, OLMoE, Phi-3.5-MoE, DeepSeek-V2/V3, gpt-oss): what the
// family is and the model's hyper-parameters. Mixtral, Mistral and Llama
// are reported through Report.Config as before.
type ArchReport struct {
	Family   string `json:"family"`
	Display  string `json:"display_name"`
	GGUFArch string `json:"gguf_architecture"`
	Router   string `json:"router"`
	// Model is the config as mxq read it, with the keys that took defaults.
	Model *arch.Model `json:"config"`
	// MoELayerIndices and SlidingLayerIndices list the layers with experts
	// and the sliding-window attention layers.
	MoELayerIndices     []int `json:"moe_layers"`
	SlidingLayerIndices []int `json:"sliding_layers,omitempty"`
	// ByPart is the main model's parameters by part, shared experts apart
	// from the dense layers' MLPs.
	ByPart arch.Breakdown `json:"by_part"`
	// Layers is the per-layer split, multi-token-prediction layers last.
	Layers []arch.LayerCounts `json:"layers"`
}

// MTPReport is a model's multi-token-prediction module(s), stored after the
// main layers and left out of the main model's counts.
type MTPReport struct {
	Layers int            `json:"layers"`
	Params int64          `json:"params"`
	Active int64          `json:"active"`
	ByPart arch.Breakdown `json:"by_part"`
}

// withArchConfig reads cfgPath and, when it names a family arch/ declares
// other than Mixtral's, describes the model into l (handled true). An
// architecture no family claims is an error; with tensors to show it is
// kept in l.unknown instead. Configs model/ reads, and unreadable ones, are
// left to model/ (handled false), which reports them as before.
func withArchConfig(l *loaded, cfgPath string) (handled bool, err error) {
	// An absent or unreadable config is model/'s to report, as before.
	data, err := safeio.ReadFile(cfgPath, safeio.ConfigLimit)
	if err != nil {
		return false, nil
	}
	c, err := arch.ParseConfig(data, cfgPath)
	if err != nil {
		return false, nil
	}
	fam, err := arch.Identify(c)
	if errors.Is(err, arch.ErrUnknown) {
		if l.tensors == nil {
			return true, err
		}
		l.unknown = err
		l.source.ConfigPath = cfgPath
		return true, nil
	}
	if err != nil || fam == arch.Mixtral {
		return false, nil
	}
	m, err := c.Model()
	if err != nil {
		return true, err
	}
	l.arch, l.origin, l.source.ConfigPath = m, "config.json", cfgPath
	return true, nil
}

// buildArch turns a model of an arch/ family into a report.
func buildArch(l *loaded, o resolved) (*Report, error) {
	m := l.arch
	f := m.Family
	r := &Report{
		Schema:       SchemaVersion,
		Source:       l.source,
		ConfigOrigin: l.origin,
		Findings:     append([]Finding{}, l.notes...),
		Arch: &ArchReport{
			Family: f.Name, Display: f.Display, GGUFArch: f.GGUFArch, Router: string(f.Router), Model: m,
		},
	}
	for i := 0; i < m.Layers; i++ {
		if m.IsMoELayer(i) {
			r.Arch.MoELayerIndices = append(r.Arch.MoELayerIndices, i)
		}
		if m.IsSlidingLayer(i) {
			r.Arch.SlidingLayerIndices = append(r.Arch.SlidingLayerIndices, i)
		}
	}
	fromCfg := m.Count()
	counts, from := fromCfg, "config"
	var tensors []archTensor
	if l.tensors != nil {
		var f []Finding
		counts, tensors, f = archAccount(l, m, fromCfg)
		r.Findings = append(r.Findings, f...)
		r.Checkpoint, from = l.ckpt, "tensors"
	}
	r.Params = archParams(counts, from)
	r.Params.ConfigTotal, r.Params.ConfigActive = fromCfg.Total, fromCfg.Active
	r.Arch.ByPart, r.Arch.Layers = counts.ByPart, counts.Layers
	r.Reference = archReference(m, counts)
	r.Findings = append(r.Findings, archConfigFindings(m)...)

	mem, settings, fs, err := archMemory(m, tensors, counts, o)
	if err != nil {
		return nil, err
	}
	r.Memory, r.Settings = mem, settings
	r.Findings = append(r.Findings, fs...)
	sortFindings(r.Findings)
	return r, nil
}

// archParams fills the common parameter report. by_group keeps its meaning
// of "what every token uses besides attention": dense_ffn there holds the
// dense layers' MLPs and the shared experts, which the new fields split.
func archParams(c arch.Counts, from string) ParamReport {
	p := ParamReport{
		CountedFrom:              from,
		NumExperts:               c.NumExperts,
		ExpertsPerToken:          c.TopK,
		Total:                    c.Total,
		Shared:                   c.Shared,
		Experts:                  c.Experts,
		PerExpertPerLayer:        c.PerExpertPerLayer,
		ExpertAcrossLayers:       c.ExpertAcrossLayers,
		Active:                   c.Active,
		ActiveExcludingEmbedding: c.ActiveExcludingEmbedding,
		SharedExperts:            c.SharedExperts,
		DenseLayerFFN:            c.DenseLayerFFN,
		MoELayers:                c.MoELayers,
		DenseLayers:              c.DenseLayers,
	}
	b := c.ByPart
	p.ByGroup.Embedding, p.ByGroup.Attention, p.ByGroup.Norms, p.ByGroup.Router = b.Embedding, b.Attention, b.Norms, b.Router
	p.ByGroup.Experts, p.ByGroup.DenseFFN, p.ByGroup.OutputHead = b.Experts, b.DenseFFN+b.SharedExperts, b.OutputHead
	p.ByGroup.Unknown = b.Unknown + b.Projection
	for _, l := range c.Layers {
		if l.MTP {
			continue
		}
		p.Layers = append(p.Layers, modelLayer(l))
	}
	if c.MTP > 0 {
		p.MTP = &MTPReport{Layers: len(c.Layers) - len(p.Layers), Params: c.MTP, Active: c.MTPActive, ByPart: c.MTPByPart}
	}
	for _, pc := range []struct {
		part arch.Part
		n    int64
	}{
		{arch.PartEmbedding, b.Embedding}, {arch.PartAttention, b.Attention}, {arch.PartNorm, b.Norms},
		{arch.PartRouter, b.Router}, {arch.PartExperts, b.Experts}, {arch.PartSharedExpert, b.SharedExperts},
		{arch.PartDenseFFN, b.DenseFFN}, {arch.PartOutput, b.OutputHead}, {arch.PartUnknown, b.Unknown},
	} {
		if pc.n != 0 {
			p.ByPart = append(p.ByPart, PartCount{Part: pc.part.String(), Params: pc.n})
		}
	}
	return p
}

// PartCount is the parameter count of one accounting part.
type PartCount struct {
	Part   string `json:"part"`
	Params int64  `json:"params"`
}

func archReference(m *arch.Model, c arch.Counts) ReferenceFigures {
	var largest int64
	for _, l := range c.Layers {
		if !l.MTP {
			largest = max(largest, l.Total)
		}
	}
	rope := m.HeadDim
	if m.QKRopeDim > 0 {
		rope = m.QKRopeDim
	}
	return ReferenceFigures{
		TransformersExcludingEmbeddings: c.Total - c.ByPart.Embedding,
		AccelerateEstimateMemoryParams:  c.Total - c.ByPart.OutputHead,
		FP32Bytes:                       4 * c.Total,
		RotaryBufferBytes:               2 * int64(rope/2) * 4,
		LargestLayerFP32Bytes:           4 * largest,
	}
}

func archConfigFindings(m *arch.Model) []Finding {
	var f []Finding
	if len(m.Defaulted) > 0 {
		f = append(f, Finding{SeverityInfo, "config-defaults",
			"config.json lacks " + list(m.Defaulted, 12) + "; the transformers defaults for model_type " + m.ModelType + " were used"})
	}
	if m.MTPLayers > 0 {
		f = append(f, Finding{SeverityInfo, "mtp-layers", fmt.Sprintf(
			"the checkpoint stores %d multi-token-prediction layer(s) after the %d main layers; they are counted apart (MTP) and left out of totals, active counts and memory, as inference without speculative decoding does",
			m.MTPLayers, m.Layers)})
	}
	if len(m.SlidingLayers) > 0 {
		f = append(f, Finding{SeverityInfo, "sliding-window", fmt.Sprintf(
			"layers alternate between a %d-token sliding window and full attention; the KV cache of sliding layers holds at most %d tokens per sequence",
			m.SlidingWindow, m.SlidingWindow)})
	}
	return f
}

// modelLayer is an arch layer in the report's common per-layer shape;
// dense_ffn holds the dense MLP and the shared experts.
func modelLayer(l arch.LayerCounts) (out model.LayerParams) {
	out.Layer, out.Attention, out.Norms, out.Router = l.Layer, l.Attention, l.Norms, l.Router
	out.Experts, out.PerExpert, out.DenseFFN = l.Experts, l.PerExpert, l.DenseFFN+l.SharedExperts
	out.Total, out.Active = l.Total, l.Active
	return out
}

// archTensor is a checkpoint tensor placed by its family's declarations.
type archTensor struct {
	rec   *tensorRec
	found arch.Found
	ok    bool
}

// archAccount counts the checkpoint's tensors by the family's declarations,
// checks them against the config and fills the checkpoint summary.
func archAccount(l *loaded, m *arch.Model, fromCfg arch.Counts) (arch.Counts, []archTensor, []Finding) {
	sum := l.ckpt
	sum.Unrecognized, sum.Missing, sum.ShapeMismatches = []TensorBrief{}, []string{}, []ShapeMismatch{}
	var findings []Finding
	add := func(sev Severity, code, format string, args ...any) {
		findings = append(findings, Finding{sev, code, fmt.Sprintf(format, args...)})
	}
	stored := m.StoredTensors()
	expected := make(map[string]*arch.Stored, len(stored))
	for i := range stored {
		expected[stored[i].Name] = &stored[i]
	}
	sum.ExpectedTensors = len(stored)
	seen := make(map[string]bool, len(stored))
	var counted []arch.Expected
	var placed []archTensor
	contradicts := map[string]string{}
	for i := range l.tensors {
		r := &l.tensors[i]
		sum.Tensors++
		sum.DataBytes += r.Bytes
		f, ok := m.Classify(r.Name)
		placed = append(placed, archTensor{rec: r, found: f, ok: ok})
		if !ok {
			sum.Unrecognized = append(sum.Unrecognized, TensorBrief{r.Name, r.Shape, r.DType, "no tensor of the " + m.Family.Display + " layout has this name"})
			counted = append(counted, arch.Expected{Shape: []int64{r.Params}, Part: arch.PartUnknown, Layer: -1})
			continue
		}
		want, isExpected := expected[r.Name]
		params := r.Params
		switch {
		case isExpected:
			seen[r.Name] = true
			if !slices.Equal(r.Shape, want.Shape) {
				sum.ShapeMismatches = append(sum.ShapeMismatches, ShapeMismatch{r.Name, r.Shape, want.Shape})
				contradicts[r.Name] = fmt.Sprintf("%s is %v but config.json (%s) implies %v",
					r.Name, r.Shape, list(f.Decl.Keys, 4), want.Shape)
				if f.Piece == "blocks" {
					params = 2 * r.Params
				}
			} else {
				params = want.Params
			}
		case f.Piece == "":
			sum.Unrecognized = append(sum.Unrecognized, TensorBrief{r.Name, r.Shape, r.DType, archUnexpected(m, f)})
		default:
			sum.Unrecognized = append(sum.Unrecognized, TensorBrief{r.Name, r.Shape, r.DType, "quantized storage the config does not declare"})
		}
		if f.Piece == "scales" || f.Piece == "scale_inv" {
			params = 0
		}
		counted = append(counted, arch.Expected{Shape: []int64{params}, Part: f.Part, Layer: f.Layer, Expert: f.Expert})
	}
	var contradictions []string // in state_dict order
	for _, s := range stored {
		if !seen[s.Name] {
			sum.Missing = append(sum.Missing, s.Name)
		}
		if c, ok := contradicts[s.Name]; ok {
			contradictions = append(contradictions, c)
		}
	}
	for _, tb := range storedTypes(l.tensors) {
		sum.DTypes = append(sum.DTypes, DTypeCount{DType: tb.Type, Tensors: tb.Tensors, Params: tb.Params, Bytes: tb.Bytes, BitsPerWeight: tb.BitsPerWeight})
	}
	c := arch.Tally(m, counted)

	if len(contradictions) > 0 {
		add(SeverityError, "config-contradicts-tensors", "%d tensor(s) disagree with config.json: %s", len(contradictions), list(contradictions, 3))
	}
	if c.Total != fromCfg.Total {
		add(SeverityError, "params-mismatch", "the tensors hold %s parameters but config.json implies %s (difference %+d)",
			commas(c.Total), commas(fromCfg.Total), c.Total-fromCfg.Total)
	}
	if c.MTP != fromCfg.MTP {
		add(SeverityError, "mtp-mismatch", "the multi-token-prediction layers hold %s parameters, config.json implies %s",
			commas(c.MTP), commas(fromCfg.MTP))
	}
	if sum.IndexTotalSize >= 0 && sum.IndexTotalSize != sum.DataBytes {
		add(SeverityError, "index-total-size", "the index says total_size %s bytes, the tensors hold %s bytes (Σ elements × dtype size; difference %+d)",
			commas(sum.IndexTotalSize), commas(sum.DataBytes), sum.DataBytes-sum.IndexTotalSize)
	}
	if n := len(sum.Missing); n > 0 {
		add(SeverityError, "missing-tensors", "%d expected tensor(s) missing: %s", n, list(sum.Missing, 5))
	}
	if n := len(sum.Unrecognized); n > 0 {
		names := make([]string, 0, n)
		for _, u := range sum.Unrecognized {
			names = append(names, u.Name+" ("+u.Reason+")")
		}
		add(SeverityWarning, "unrecognized-tensors", "%d tensor(s) not part of the %s layout the config describes: %s", n, m.Family.Display, list(names, 5))
	}
	return c, placed, findings
}

func archUnexpected(m *arch.Model, f arch.Found) string {
	switch {
	case f.Layer >= m.Layers+m.MTPLayers:
		return fmt.Sprintf("layer %d, but the config has %d layers", f.Layer, m.Layers+m.MTPLayers)
	case f.Expert >= m.Experts:
		return fmt.Sprintf("expert %d, but the config has %d experts", f.Expert, m.Experts)
	case f.Part == arch.PartOutput && m.TieEmbeddings:
		return "lm_head present although tie_word_embeddings is true"
	case f.Part == arch.PartDenseFFN:
		return fmt.Sprintf("dense MLP in layer %d, which the config makes a mixture of experts", f.Layer)
	case f.Part == arch.PartExperts || f.Part == arch.PartRouter || f.Part == arch.PartSharedExpert:
		return fmt.Sprintf("expert tensor in layer %d, which the config makes dense", f.Layer)
	case f.Decl.Packed != "":
		return "stored unpacked although the config declares " + string(f.Decl.Packed)
	}
	return "not expected by the config"
}
