package inspect

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mxq-dev/mxq/model"
)

// paramsFromConfig fills the parameter report from the config alone.
func paramsFromConfig(cfg *model.Config) ParamReport {
	p := cfg.Params()
	pr := paramReport(p, "config")
	pr.ByRole = roleCounts(cfg.HFTensors())
	pr.ConfigTotal, pr.ConfigActive = p.Total, p.Active
	return pr
}

func paramReport(p model.Params, from string) ParamReport {
	pr := ParamReport{
		CountedFrom:              from,
		NumExperts:               p.NumExperts,
		ExpertsPerToken:          p.ExpertsPerToken,
		Total:                    p.Total,
		Shared:                   p.Shared,
		Experts:                  p.Experts,
		ExpertAcrossLayers:       p.ExpertAcrossLayers,
		Active:                   p.Active,
		ActiveExcludingEmbedding: p.ActiveExcludingEmbedding,
		ByGroup:                  p.ByGroup,
		Layers:                   p.Layers,
	}
	if len(p.Layers) > 0 {
		pr.PerExpertPerLayer = p.Layers[0].PerExpert
	}
	return pr
}

// sortRoles orders role counts as model.Roles lists them, unknown last.
func sortRoles(rc []RoleCount) {
	key := func(r model.Role) int {
		if r == model.RoleUnknown {
			return 1 << 30
		}
		return int(r)
	}
	sort.SliceStable(rc, func(i, j int) bool { return key(rc[i].Role) < key(rc[j].Role) })
}

func roleCounts(list []model.ExpectedTensor) []RoleCount {
	var rt roleTally
	for _, e := range list {
		rt.add(e.Role.Role, e.NumElements())
	}
	sortRoles(rt.counts)
	return rt.counts
}

// roleTally counts tensors and parameters per role, in the order the roles
// first appear.
type roleTally struct {
	idx    map[model.Role]int
	counts []RoleCount
}

func (t *roleTally) add(r model.Role, params int64) {
	i, ok := t.idx[r]
	if !ok {
		if t.idx == nil {
			t.idx = map[model.Role]int{}
		}
		i = len(t.counts)
		t.idx[r] = i
		t.counts = append(t.counts, RoleCount{Role: r, Group: r.Group().String(), PerExpert: r.PerExpert()})
	}
	t.counts[i].Tensors++
	t.counts[i].Params += params
}

// account counts the checkpoint's tensors, checks them against the config
// and fills the checkpoint summary. Every disagreement becomes a finding.
func account(l *loaded) (ParamReport, []Finding) {
	cfg := l.cfg
	sum := l.ckpt
	var findings []Finding
	add := func(sev Severity, code, format string, args ...any) {
		findings = append(findings, Finding{sev, code, fmt.Sprintf(format, args...)})
	}

	var expected []model.ExpectedTensor
	expectedShape := cfg.ExpectedHF
	if l.gguf {
		expected, expectedShape = cfg.GGUFTensors(), cfg.ExpectedGGUF
	} else {
		expected = cfg.HFTensors()
	}
	sum.ExpectedTensors = len(expected)
	seen := make(map[string]bool, len(expected))

	tally := model.NewTally(cfg.NumLayers, cfg.NumExperts, cfg.ExpertsPerToken)
	var byRole roleTally
	legacyExperts := false
	for _, r := range l.tensors {
		sum.Tensors++
		sum.DataBytes += r.Bytes
		tally.Add(r.Role, r.Params)
		byRole.add(r.Role.Role, r.Params)

		if r.Role.Role == model.RoleUnknown {
			sum.Unrecognized = append(sum.Unrecognized, TensorBrief{r.Name, r.Shape, r.DType, "no tensor role matches the name"})
			continue
		}
		want, ok := expectedShape(r.Role)
		if !ok {
			sum.Unrecognized = append(sum.Unrecognized, TensorBrief{r.Name, r.Shape, r.DType, unexpectedReason(cfg, r.Role)})
			continue
		}
		if l.gguf && r.Role.Expert >= 0 {
			// Older GGUFs store each expert separately; count them toward
			// the merged tensor the config expects.
			legacyExperts = true
			seen[model.GGUFName(model.TensorRole{Role: r.Role.Role, Layer: r.Role.Layer, Expert: model.AllExperts})] = true
		}
		seen[r.Name] = true
		if !slices.Equal(r.Shape, want) {
			sum.ShapeMismatches = append(sum.ShapeMismatches, ShapeMismatch{r.Name, r.Shape, want})
		}
	}
	for _, e := range expected {
		if !seen[e.Name] {
			sum.Missing = append(sum.Missing, e.Name)
		}
	}
	for _, tb := range storedTypes(l.tensors) {
		sum.DTypes = append(sum.DTypes, DTypeCount{DType: tb.Type, Tensors: tb.Tensors, Params: tb.Params, Bytes: tb.Bytes, BitsPerWeight: tb.BitsPerWeight})
	}

	p := tally.Params()
	pr := paramReport(p, "tensors")
	sortRoles(byRole.counts)
	pr.ByRole = byRole.counts
	fromCfg := cfg.Params()
	pr.ConfigTotal, pr.ConfigActive = fromCfg.Total, fromCfg.Active
	if len(p.Layers) > cfg.NumLayers {
		pr.Layers = p.Layers // keep stray layers visible
	}

	// Cross-checks.
	if p.Total != fromCfg.Total {
		add(SeverityError, "params-mismatch", "the tensors hold %s parameters but %s implies %s (difference %+d)",
			commas(p.Total), l.origin, commas(fromCfg.Total), p.Total-fromCfg.Total)
	}
	groups := []struct {
		name      string
		got, want int64
	}{
		{"embedding", p.ByGroup.Embedding, fromCfg.ByGroup.Embedding},
		{"attention", p.ByGroup.Attention, fromCfg.ByGroup.Attention},
		{"norms", p.ByGroup.Norms, fromCfg.ByGroup.Norms},
		{"router", p.ByGroup.Router, fromCfg.ByGroup.Router},
		{"experts", p.ByGroup.Experts, fromCfg.ByGroup.Experts},
		{"dense FFN", p.ByGroup.DenseFFN, fromCfg.ByGroup.DenseFFN},
		{"output head", p.ByGroup.OutputHead, fromCfg.ByGroup.OutputHead},
	}
	for _, g := range groups {
		if g.got != g.want {
			add(SeverityError, "group-mismatch", "%s: %s parameters in the tensors, %s expected from %s",
				g.name, commas(g.got), commas(g.want), l.origin)
		}
	}
	if p.Active != fromCfg.Active && p.Total == fromCfg.Total {
		add(SeverityError, "active-mismatch", "active parameters per token: %s from the tensors, %s from %s",
			commas(p.Active), commas(fromCfg.Active), l.origin)
	}
	if cfg.IsMoE() {
		for _, lp := range p.Layers {
			if lp.Experts%int64(cfg.NumExperts) != 0 {
				add(SeverityError, "expert-size-irregular", "layer %d: %s expert parameters do not split evenly over %d experts",
					lp.Layer, commas(lp.Experts), cfg.NumExperts)
			}
		}
	}
	if sum.IndexTotalSize >= 0 && sum.IndexTotalSize != sum.DataBytes {
		add(SeverityError, "index-total-size", "the index says total_size %s bytes, the tensors hold %s bytes (Σ elements × dtype size; difference %+d)",
			commas(sum.IndexTotalSize), commas(sum.DataBytes), sum.DataBytes-sum.IndexTotalSize)
	}
	if n := len(sum.Missing); n > 0 {
		add(SeverityError, "missing-tensors", "%d expected tensor(s) missing: %s", n, list(sum.Missing, 5))
	}
	if n := len(sum.ShapeMismatches); n > 0 {
		names := make([]string, 0, n)
		for _, m := range sum.ShapeMismatches {
			names = append(names, fmt.Sprintf("%s %v (expected %v)", m.Name, m.Shape, m.Expected))
		}
		add(SeverityError, "shape-mismatch", "%d tensor(s) with a shape the config does not call for: %s", n, list(names, 3))
	}
	if n := len(sum.Unrecognized); n > 0 {
		names := make([]string, 0, n)
		for _, u := range sum.Unrecognized {
			names = append(names, u.Name)
		}
		add(SeverityWarning, "unrecognized-tensors", "%d tensor(s) not part of the %s layout: %s", n, cfg.Architecture, list(names, 5))
	}
	if legacyExperts {
		add(SeverityInfo, "gguf-split-experts", "experts are stored one tensor per expert (older GGUF layout); current llama.cpp writes merged ffn_*_exps tensors")
	}
	if len(sum.DTypes) > 1 && !l.gguf {
		add(SeverityInfo, "mixed-dtypes", "tensors use %d dtypes", len(sum.DTypes))
	}
	if l.gguf && sum.FileBytes > 0 && sum.DataBytes > sum.FileBytes {
		add(SeverityError, "gguf-size", "tensor data (%s bytes) exceeds the file size (%s bytes)", commas(sum.DataBytes), commas(sum.FileBytes))
	}
	return pr, findings
}

func unexpectedReason(cfg *model.Config, r model.TensorRole) string {
	switch {
	case r.Layer >= cfg.NumLayers:
		return fmt.Sprintf("layer %d, but the config has %d layers", r.Layer, cfg.NumLayers)
	case r.Expert >= cfg.NumExperts:
		return fmt.Sprintf("expert %d, but the config has %d experts", r.Expert, cfg.NumExperts)
	case r.Role == model.RoleOutput && cfg.TieWordEmbeddings:
		return "lm_head present although tie_word_embeddings is true"
	case r.Role.PerExpert() || r.Role == model.RoleRouter:
		return "expert tensor in a dense model"
	case r.Role.Group() == model.GroupDenseFFN:
		return "dense MLP tensor in a mixture-of-experts model"
	}
	return "not expected by the config"
}

func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", … (%d more)", len(items)-n)
}
