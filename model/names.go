package model

import (
	"strconv"
	"strings"
)

// maxIndex bounds layer and expert numbers parsed from names, so a hostile
// name cannot make a caller size a table from it.
const maxIndex = 1 << 16

// ClassifyHF returns the role of a tensor named in the Hugging Face layout
// (model.layers.3.self_attn.q_proj.weight, ...), or Unknown.
func ClassifyHF(name string) TensorRole {
	for i := range roleSpecs {
		if tr, ok := match(roleSpecs[i].hf, name); ok {
			tr.Role = roleSpecs[i].role
			return tr
		}
		for _, tmpl := range roleSpecs[i].hfByFamily {
			if tr, ok := match(tmpl, name); ok {
				tr.Role = roleSpecs[i].role
				return tr
			}
		}
	}
	return Unknown
}

// hfTemplate is the Hugging Face name template of s in c's family.
func (c *Config) hfTemplate(s *roleSpec) string {
	if t, ok := s.hfByFamily[c.Family]; ok {
		return t
	}
	return s.hf
}

// HFName is the Hugging Face name of the tensor of role r in c's family,
// or "" as for the package-level HFName.
func (c *Config) HFName(r TensorRole) string {
	s := spec(r.Role)
	if s == nil || !indicesFit(s, r) || r.Expert == AllExperts {
		return ""
	}
	return format(c.hfTemplate(s), r)
}

// ClassifyGGUF returns the role of a tensor named in llama.cpp's GGUF layout
// (blk.3.attn_q.weight, ...), or Unknown. Merged expert tensors
// (blk.N.ffn_gate_exps.weight) get Expert AllExperts; the older per-expert
// names (blk.N.ffn_gate.E.weight) get their expert index.
func ClassifyGGUF(name string) TensorRole {
	for i := range roleSpecs {
		s := &roleSpecs[i]
		if tr, ok := match(s.gguf, name); ok {
			tr.Role = s.role
			if s.scope == scopeExpert {
				tr.Expert = AllExperts
			}
			return tr
		}
		if s.ggufSplit == "" {
			continue
		}
		if tr, ok := match(s.ggufSplit, name); ok {
			tr.Role = s.role
			return tr
		}
	}
	return Unknown
}

// HFName is the inverse of ClassifyHF. It returns "" when the role has no
// single Hugging Face tensor (unknown role, missing layer or expert index,
// or AllExperts).
func HFName(r TensorRole) string {
	s := spec(r.Role)
	if s == nil || !indicesFit(s, r) || r.Expert == AllExperts {
		return ""
	}
	return format(s.hf, r)
}

// GGUFName is the inverse of ClassifyGGUF: an expert role with Expert
// AllExperts names the merged tensor, with an expert index the older
// per-expert tensor. It returns "" when no name fits.
func GGUFName(r TensorRole) string {
	s := spec(r.Role)
	if s == nil || !indicesFit(s, r) {
		return ""
	}
	if s.scope == scopeExpert && r.Expert != AllExperts {
		return format(s.ggufSplit, r)
	}
	return format(s.gguf, r)
}

func indicesFit(s *roleSpec, r TensorRole) bool {
	switch s.scope {
	case scopeModel:
		return r.Layer < 0 && r.Expert < 0
	case scopeLayer:
		return r.Layer >= 0 && r.Expert < 0
	default:
		return r.Layer >= 0 && (r.Expert >= 0 || r.Expert == AllExperts)
	}
}

// match compares a dotted name with a template segment by segment; {L} and
// {E} segments must be canonical decimal numbers.
func match(tmpl, name string) (TensorRole, bool) {
	tr := TensorRole{Layer: -1, Expert: -1}
	for {
		ts, trest, tmore := strings.Cut(tmpl, ".")
		ns, nrest, nmore := strings.Cut(name, ".")
		switch ts {
		case "{L}", "{E}":
			n, ok := index(ns)
			if !ok {
				return Unknown, false
			}
			if ts == "{L}" {
				tr.Layer = n
			} else {
				tr.Expert = n
			}
		default:
			if ts != ns {
				return Unknown, false
			}
		}
		if tmore != nmore {
			return Unknown, false
		}
		if !tmore {
			return tr, true
		}
		tmpl, name = trest, nrest
	}
}

func index(s string) (int, bool) {
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= maxIndex {
		return 0, false
	}
	return n, true
}

func format(tmpl string, r TensorRole) string {
	s := strings.ReplaceAll(tmpl, "{L}", strconv.Itoa(r.Layer))
	return strings.ReplaceAll(s, "{E}", strconv.Itoa(r.Expert))
}
