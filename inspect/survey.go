package inspect

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mxq-dev/mxq/arch"
)

// HeaderSurvey is what tensor headers alone show of a model whose
// architecture mxq does not know. Everything in it is inferred from names
// and shapes.
type HeaderSurvey struct {
	Inferred bool `json:"inferred"`
	// Architecture names what the config or metadata declared.
	Architecture string `json:"architecture"`
	// KnownFamilies are the families mxq can account for.
	KnownFamilies []string `json:"known_families"`
	Tensors       int      `json:"tensors"`
	Params        int64    `json:"params"`
	Bytes         int64    `json:"bytes"`
	// Layers and Experts are one more than the largest layer and expert
	// index seen in names (0: none).
	Layers  int `json:"layers"`
	Experts int `json:"experts"`
	// ExpertTensors and ExpertParams sum the tensors whose names look like
	// experts.
	ExpertTensors int            `json:"expert_tensors"`
	ExpertParams  int64          `json:"expert_params"`
	Patterns      []PatternCount `json:"patterns"`
}

// PatternCount sums the tensors of one name pattern: layer numbers become
// {L}, expert numbers {E}, other numbers {N}.
type PatternCount struct {
	Pattern     string  `json:"pattern"`
	Tensors     int     `json:"tensors"`
	Params      int64   `json:"params"`
	Bytes       int64   `json:"bytes"`
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"` // of the first tensor seen
	LooksExpert bool    `json:"looks_like_expert"`
}

// namePattern abstracts the numbers in a tensor name: the first becomes
// {L} (layer), one after an "experts" segment {E}, others {N}.
func namePattern(name string) (pattern string, layer, expert int) {
	layer, expert = -1, -1
	segs := strings.Split(name, ".")
	for i, s := range segs {
		n, ok := numberSegment(s)
		if !ok {
			continue
		}
		switch {
		case i > 0 && (segs[i-1] == "experts" || segs[i-1] == "ffn_gate" || segs[i-1] == "ffn_up" || segs[i-1] == "ffn_down") && layer >= 0:
			segs[i], expert = "{E}", n
		case layer < 0:
			segs[i], layer = "{L}", n
		default:
			segs[i] = "{N}"
		}
	}
	return strings.Join(segs, "."), layer, expert
}

func numberSegment(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func looksExpert(pattern string) bool {
	return strings.Contains(pattern, "{E}") || strings.Contains(pattern, ".experts.") || strings.Contains(pattern, "_exps.") ||
		strings.Contains(pattern, "expert")
}

// survey groups tensors by name pattern.
func survey(tensors []tensorRec) *HeaderSurvey {
	s := &HeaderSurvey{Inferred: true, KnownFamilies: arch.Names(), Patterns: []PatternCount{}}
	idx := map[string]int{}
	for _, r := range tensors {
		p, layer, expert := namePattern(r.Name)
		s.Tensors++
		s.Params += r.Params
		s.Bytes += r.Bytes
		s.Layers = max(s.Layers, layer+1)
		s.Experts = max(s.Experts, expert+1)
		i, ok := idx[p]
		if !ok {
			i = len(s.Patterns)
			idx[p] = i
			s.Patterns = append(s.Patterns, PatternCount{Pattern: p, DType: r.DType, Shape: r.Shape, LooksExpert: looksExpert(p)})
		}
		pc := &s.Patterns[i]
		pc.Tensors++
		pc.Params += r.Params
		pc.Bytes += r.Bytes
		if pc.DType != r.DType {
			pc.DType = "mixed"
		}
		if pc.LooksExpert {
			s.ExpertTensors++
			s.ExpertParams += r.Params
		}
	}
	sort.SliceStable(s.Patterns, func(i, j int) bool { return s.Patterns[i].Params > s.Patterns[j].Params })
	return s
}

// surveyReport describes the headers of a checkpoint whose config names an
// architecture no family claims.
func surveyReport(l *loaded) *Report {
	sum := l.ckpt
	sum.Unrecognized, sum.Missing, sum.ShapeMismatches = []TensorBrief{}, []string{}, []ShapeMismatch{}
	for _, r := range l.tensors {
		sum.Tensors++
		sum.DataBytes += r.Bytes
	}
	for _, tb := range storedTypes(l.tensors) {
		sum.DTypes = append(sum.DTypes, DTypeCount{DType: tb.Type, Tensors: tb.Tensors, Params: tb.Params, Bytes: tb.Bytes, BitsPerWeight: tb.BitsPerWeight})
	}
	r := &Report{
		Schema: SchemaVersion, Source: l.source, ConfigOrigin: "none: unknown architecture",
		Checkpoint: sum, Survey: survey(l.tensors),
		Findings: []Finding{{SeverityError, "unknown-architecture", l.unknown.Error()}},
	}
	var ue *arch.UnknownError
	if errors.As(l.unknown, &ue) {
		r.Survey.Architecture = strings.Join(append([]string{ue.ModelType}, ue.Architectures...), " ")
	}
	r.Params = ParamReport{CountedFrom: "inferred from tensor headers", Total: r.Survey.Params, Experts: r.Survey.ExpertParams,
		Shared: r.Survey.Params - r.Survey.ExpertParams}
	r.Findings = append(r.Findings, Finding{SeverityWarning, "inferred", fmt.Sprintf(
		"figures come from tensor names and shapes alone: %d tensors in %d name patterns, %s parameters, of which %s in tensors that look like experts (%d layers, %d experts seen in names)",
		r.Survey.Tensors, len(r.Survey.Patterns), commas(r.Survey.Params), commas(r.Survey.ExpertParams), r.Survey.Layers, r.Survey.Experts)})
	return r
}

// ggufFamilyFindings says what mxq knows of a GGUF's general.architecture
// when it cannot account for the file.
func ggufFamilyFindings(l *loaded) []Finding {
	if !l.gguf || l.ckpt == nil {
		return nil
	}
	name := ""
	for _, kv := range l.ckpt.GGUFMetadata {
		if kv.Key == "general.architecture" {
			name = kv.Value
		}
	}
	if name == "" {
		return nil
	}
	if f, ok := arch.ByGGUF(strings.Trim(name, `"`)); ok {
		return []Finding{{SeverityInfo, "gguf-family", fmt.Sprintf(
			"general.architecture %s is llama.cpp's name for mxq's %s family, whose counts mxq reads from config.json; accounting from GGUF metadata is not implemented for it yet", name, f.Display)}}
	}
	return []Finding{{SeverityInfo, "gguf-family", fmt.Sprintf(
		"general.architecture %s belongs to no family mxq knows (%s)", name, strings.Join(arch.Names(), ", "))}}
}
