package convert

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// hfIgnored are buffers some checkpoints carry that are not weights.
var hfIgnored = []string{".rotary_emb.inv_freq"}

// ggufFromHF lays out the llama-architecture GGUF tensors of an HF
// checkpoint: names mapped, experts of a layer stacked into one 3-D tensor
// (expert e's matrix is the e-th slab), q/k rows permuted for llama.cpp's
// RoPE. Every source tensor must be used and every shape must match the
// config. Types are left for the plan.
func ggufFromHF(cfg *model.Config, ckpt *safetensors.Checkpoint) ([]*outTensor, error) {
	view, err := hfFromCheckpoint(cfg, ckpt)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]part, len(view))
	for _, v := range view {
		byName[v.Name] = v.src
	}
	var out []*outTensor
	for _, e := range cfg.GGUFTensors() {
		ot := &outTensor{Name: e.Name, Role: e.Role}
		for _, d := range e.Shape {
			ot.Dims = append(ot.Dims, uint64(d))
		}
		experts := []int{e.Role.Expert}
		if e.Role.Expert == model.AllExperts {
			experts = experts[:0]
			for x := range cfg.NumExperts {
				experts = append(experts, x)
			}
		}
		for _, x := range experts {
			r := e.Role
			r.Expert = x
			p, ok := byName[cfg.HFName(r)]
			if !ok {
				return nil, fmt.Errorf("checkpoint %s: no tensor for %s", ckpt.Dir, e.Name)
			}
			switch e.Role.Role {
			case model.RoleAttnQ, model.RoleAttnK:
				if cfg.PermutesQK() {
					p.headDim, p.reorder = cfg.HeadDim, permutedSource
				}
			}
			ot.parts = append(ot.parts, p)
		}
		out = append(out, ot)
	}
	return out, nil
}

// checkAllUsed fails when a source tensor was not mapped: a tensor that is
// silently dropped would make a checkpoint that loads but computes
// something else.
func checkAllUsed(where, arch string, names []string, used map[string]bool) error {
	var unused []string
	for _, name := range names {
		if used[name] || hasAnySuffix(name, hfIgnored) {
			continue
		}
		unused = append(unused, name)
	}
	if len(unused) == 0 {
		return nil
	}
	sort.Strings(unused)
	more := ""
	if len(unused) > 5 {
		more = fmt.Sprintf(" and %d more", len(unused)-5)
		unused = unused[:5]
	}
	return fmt.Errorf("%s: tensors not part of the %s architecture: %s%s", where, arch, strings.Join(unused, ", "), more)
}

// ggufFromGGUF re-lays out a GGUF file's tensors as they are, one part per
// expert slab, for requantization.
func ggufFromGGUF(src *Source) ([]*outTensor, error) {
	f := src.gg
	var out []*outTensor
	for i := range f.Tensors {
		t := &f.Tensors[i]
		ms, err := ggufMatrices(f, t)
		if err != nil {
			return nil, err
		}
		ot := &outTensor{Name: t.Name, Dims: slices.Clone(t.Dims), Role: model.ClassifyGGUF(t.Name), Type: t.Type}
		for _, m := range ms {
			ot.parts = append(ot.parts, part{src: m})
		}
		out = append(out, ot)
	}
	return out, nil
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// sourceType is the type a tensor is stored in at the source, used when the
// plan keeps it unquantized.
func (t *outTensor) sourceType() ggml.Type { return t.parts[0].src.typ }
