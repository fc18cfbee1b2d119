package inspect

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// writeArch renders a report of an arch/ family, or the header survey of
// an unknown architecture.
func (r *Report) writeArch(t *textWriter) {
	if r.Arch == nil {
		t.printf("Source  %s (%s): unknown architecture; figures inferred from tensor headers\n", archEscape(r.Source.Path), r.Source.Kind)
		t.checkpoint(r)
		t.survey(r.Survey)
		t.findings(r)
		return
	}
	t.archHeader(r)
	t.archParams(r)
	t.reference(r)
	if r.Settings.Layers {
		t.archLayers(r)
	}
	t.checkpoint(r)
	t.memory(r)
	t.findings(r)
}

// archEscape escapes control and other non-printing characters of text
// taken from the inspected files.
func archEscape(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

func (t *textWriter) archHeader(r *Report) {
	a, m := r.Arch, r.Arch.Model
	t.printf("Model   %s (model_type %s), family %s, config from %s\n", archEscape(m.Architecture), archEscape(m.ModelType), a.Display, r.ConfigOrigin)
	src := r.Source.Kind
	if r.Source.IndexPath != "" {
		src += ", index " + r.Source.IndexPath
	}
	t.printf("Source  %s (%s)\n", archEscape(r.Source.Path), src)
	p := r.Params
	layers := fmt.Sprintf("%d layers", m.Layers)
	if p.DenseLayers > 0 {
		layers += fmt.Sprintf(" (%d MoE, %d dense)", p.MoELayers, p.DenseLayers)
	}
	attn := fmt.Sprintf("%d heads (%d KV, head_dim %d)", m.Heads, m.KVHeads, m.HeadDim)
	if m.KVLoRARank > 0 {
		q := "q projected directly"
		if m.QLoRARank > 0 {
			q = fmt.Sprintf("q_lora_rank %d", m.QLoRARank)
		}
		attn = fmt.Sprintf("%d heads, latent attention (%s, kv_lora_rank %d, qk_nope %d + qk_rope %d, v_head_dim %d)",
			m.Heads, q, m.KVLoRARank, m.QKNopeDim, m.QKRopeDim, m.VHeadDim)
	}
	t.printf("Shape   %s, hidden %s, %s, %d experts, top-%d, expert FFN %s, vocab %s, context %s\n",
		layers, commas(int64(m.Hidden)), attn, m.Experts, m.TopK, commas(int64(m.ExpertIntermediate)),
		commas(int64(m.Vocab)), commas(int64(m.MaxPositions)))
	var extra []string
	if m.SharedExperts > 0 {
		s := fmt.Sprintf("%d shared expert(s) of FFN %s per MoE layer", m.SharedExperts, commas(int64(m.SharedIntermediate)))
		if m.SharedExpertGate {
			s += " behind a sigmoid gate"
		}
		extra = append(extra, s)
	}
	if p.DenseLayers > 0 {
		extra = append(extra, fmt.Sprintf("dense layers' FFN %s", commas(int64(m.Intermediate))))
	}
	if n := len(a.SlidingLayerIndices); n > 0 {
		extra = append(extra, fmt.Sprintf("%d of %d layers attend over a %d-token sliding window", n, m.Layers, m.SlidingWindow))
	}
	if m.MTPLayers > 0 {
		extra = append(extra, fmt.Sprintf("%d multi-token-prediction layer(s)", m.MTPLayers))
	}
	if m.Quantization != "" {
		extra = append(extra, "checkpoint quantization "+archEscape(m.Quantization))
	}
	router := a.Router
	if m.NormTopK && (a.Router == "softmax-topk") {
		router += " (renormalised)"
	}
	extra = append(extra, "router "+router, "GGUF architecture "+a.GGUFArch)
	t.wrap("Family  ", strings.Join(extra, "; "))
}

func (t *textWriter) archParams(r *Report) {
	p, b := r.Params, r.Arch.ByPart
	from := "from the config"
	if p.CountedFrom == "tensors" {
		from = "from the tensors, cross-checked against " + r.ConfigOrigin
	}
	t.section(fmt.Sprintf("PARAMETERS (counted %s)", from))
	tb := &table{}
	tb.row("part", "params", "", "share")
	row := func(name string, n int64) { tb.row(name, commas(n), short(n), pct(n, p.Total)) }
	opt := func(name string, n int64) {
		if n != 0 {
			row(name, n)
		}
	}
	row("embedding", b.Embedding)
	row("attention", b.Attention)
	row("norms", b.Norms)
	row("router", b.Router)
	row(fmt.Sprintf("routed experts (%d per MoE layer)", p.NumExperts), b.Experts)
	opt("shared experts", b.SharedExperts)
	opt(fmt.Sprintf("dense layers' MLP (%d layers)", p.DenseLayers), b.DenseFFN)
	row("output head", b.OutputHead)
	opt("unrecognized", b.Unknown)
	row("total", p.Total)
	tb.row("")
	row("shared (used by every token)", p.Shared)
	row("routed experts, all layers", p.Experts)
	row("one expert, one layer", p.PerExpertPerLayer)
	row("one expert, all MoE layers", p.ExpertAcrossLayers)
	row(fmt.Sprintf("active per token (top-%d)", p.ExpertsPerToken), p.Active)
	row("active, excluding the embedding lookup", p.ActiveExcludingEmbedding)
	t.flush(tb)
	if p.CountedFrom == "tensors" && (p.ConfigTotal != p.Total || p.ConfigActive != p.Active) {
		t.printf("  %s implies total %s and active %s: see FINDINGS\n", r.ConfigOrigin, commas(p.ConfigTotal), commas(p.ConfigActive))
	}
	if mtp := p.MTP; mtp != nil {
		t.printf("\n  multi-token prediction (%d layer(s), not in the total): %s params (%s), %s active per token\n",
			mtp.Layers, commas(mtp.Params), short(mtp.Params), commas(mtp.Active))
		t.printf("  main model + MTP: %s (%s)\n", commas(p.Total+mtp.Params), short(p.Total+mtp.Params))
	}
}

func (t *textWriter) archLayers(r *Report) {
	t.section("PER LAYER (parameters)")
	tb := &table{}
	tb.row("layer", "kind", "attention", "norms", "router", "experts", "per expert", "shared exp.", "dense MLP", "other", "total", "active")
	for _, l := range r.Arch.Layers {
		kind := "dense"
		if l.MoE {
			kind = "MoE"
		}
		if l.Sliding {
			kind += ", sliding"
		}
		if l.MTP {
			kind += ", MTP"
		}
		tb.row(fmt.Sprint(l.Layer), kind, commas(l.Attention), commas(l.Norms), commas(l.Router), commas(l.Experts), commas(l.PerExpert),
			commas(l.SharedExperts), commas(l.DenseFFN), commas(l.Other), commas(l.Total), commas(l.Active))
	}
	t.flush(tb)
}

func (t *textWriter) survey(s *HeaderSurvey) {
	if s == nil {
		return
	}
	t.section("TENSOR HEADERS (inferred: no family describes this architecture)")
	t.printf("  %d tensors, %s parameters (%s), %s bytes; %d layers and %d experts seen in names\n",
		s.Tensors, commas(s.Params), short(s.Params), commas(s.Bytes), s.Layers, s.Experts)
	t.printf("  tensors that look like experts: %d, %s parameters (%s)\n", s.ExpertTensors, commas(s.ExpertParams), pct(s.ExpertParams, s.Params))
	tb := &table{}
	tb.row("name pattern", "tensors", "params", "dtype", "expert?")
	for i, p := range s.Patterns {
		if i == 40 {
			tb.row(fmt.Sprintf("… %d more patterns", len(s.Patterns)-40))
			break
		}
		e := ""
		if p.LooksExpert {
			e = "yes"
		}
		tb.row(archEscape(p.Pattern), fmt.Sprint(p.Tensors), commas(p.Params), p.DType, e)
	}
	t.flush(tb)
	t.wrap("  ", "mxq knows: "+strings.Join(s.KnownFamilies, ", "))
}
