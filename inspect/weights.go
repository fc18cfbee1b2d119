package inspect

import (
	"sort"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quantplan"
)

// weightSet is one way of storing the weights, broken down the way llama.cpp
// places them: the token embedding (always in CPU RAM), the per-layer
// tensors (split into shared and expert parts, which --n-cpu-moe separates),
// and the rest (output head, final norm), which goes with the last layer.
type weightSet struct {
	name, kind string
	llamaCPP   bool // placed as llama.cpp places a GGUF: token_embd in RAM
	// needsImatrix marks a file type llama-quantize makes only with an
	// importance matrix; its sizes are those of the file made with one.
	needsImatrix bool
	total        int64
	params       int64
	tokenEmbd    int64
	tail         int64
	layerShared  []int64
	layerExperts []int64
	types        []TypeBytes
	// sz flags a total that does not fit an int64 (a hostile header).
	sz sizes
}

func newWeightSet(name, kind string, layers int) *weightSet {
	return &weightSet{name: name, kind: kind, layerShared: make([]int64, layers), layerExperts: make([]int64, layers)}
}

func (w *weightSet) add(r model.TensorRole, params, bytes int64) {
	w.total = w.sz.add(w.total, bytes)
	w.params = w.sz.add(w.params, params)
	switch {
	case r.Role == model.RoleEmbedding:
		w.tokenEmbd = w.sz.add(w.tokenEmbd, bytes)
	case r.Layer >= 0 && r.Layer < len(w.layerShared):
		if r.Role.Group() == model.GroupExperts {
			w.layerExperts[r.Layer] = w.sz.add(w.layerExperts[r.Layer], bytes)
		} else {
			w.layerShared[r.Layer] = w.sz.add(w.layerShared[r.Layer], bytes)
		}
	default:
		w.tail = w.sz.add(w.tail, bytes)
	}
}

// experts is the bytes of all experts; total bounds it, so it cannot
// overflow once the additions did not.
func (w *weightSet) experts() int64 {
	var n int64
	for _, e := range w.layerExperts {
		n += e
	}
	return n
}

func (w *weightSet) bpw() float64 {
	if w.params == 0 {
		return 0
	}
	return float64(w.total) * 8 / float64(w.params)
}

// plainWidths are the "every parameter at N bits, no scales" rows.
var plainWidths = []struct {
	name string
	bits int64
}{{"fp32", 32}, {"fp16/bf16", 16}, {"int8", 8}, {"int4", 4}}

// ggufMixes are the llama.cpp file types of the weights table.
var ggufMixes = []ggml.FileType{
	ggml.FileTypeMostlyF16, ggml.FileTypeQ8_0, ggml.FileTypeQ6_K,
	ggml.FileTypeQ5_K_M, ggml.FileTypeQ4_K_M, ggml.FileTypeQ4_0,
	ggml.FileTypeIQ4_NL, ggml.FileTypeIQ4_XS, ggml.FileTypeMXFP4_MOE,
	ggml.FileTypeIQ3_M, ggml.FileTypeIQ3_S, ggml.FileTypeIQ3_XS, ggml.FileTypeIQ3_XXS,
	ggml.FileTypeIQ2_M, ggml.FileTypeIQ2_S, ggml.FileTypeIQ2_XS, ggml.FileTypeIQ2_XXS,
	ggml.FileTypeIQ1_M, ggml.FileTypeIQ1_S,
}

func plainSet(cfg *model.Config, name string, bits int64) *weightSet {
	w := newWeightSet(name, "plain", cfg.NumLayers)
	for _, e := range cfg.HFTensors() {
		n := e.NumElements()
		w.add(e.Role, n, w.sz.add(w.sz.mul(n, bits), 7)/8)
	}
	w.types = []TypeBytes{{Type: name, Tensors: len(cfg.HFTensors()), Params: w.params, Bytes: w.total, BitsPerWeight: float64(bits)}}
	return w
}

// ggufSet plans cfg's GGUF at file type ft with llama-quantize's rules.
// A file type llama-quantize refuses to make without an importance matrix
// is planned as made with one (which also changes some of its rules).
func ggufSet(cfg *model.Config, ft ggml.FileType) (*weightSet, error) {
	src := quantplan.FromConfig(cfg, ggml.F16)
	opts := quantplan.Options{TiedEmbeddings: cfg.TieWordEmbeddings}
	p, err := quantplan.Build(ft, src, opts)
	needsImatrix := false
	if err != nil {
		opts.Imatrix = true
		if withImatrix, ierr := quantplan.Build(ft, src, opts); ierr == nil {
			p, err, needsImatrix = withImatrix, nil, true
		}
	}
	if err != nil {
		return nil, err
	}
	w := newWeightSet(ft.String(), "gguf", cfg.NumLayers)
	w.llamaCPP = true
	w.needsImatrix = needsImatrix
	for _, t := range p.Tensors {
		w.add(model.ClassifyGGUF(t.Name), t.Elements, t.Bytes)
	}
	for _, tt := range p.ByType {
		w.types = append(w.types, TypeBytes{Type: tt.Type.String(), Tensors: tt.Tensors, Params: tt.Elements, Bytes: tt.Bytes, BitsPerWeight: tt.BitsPerWeight})
	}
	return w, nil
}

// storedSet is the checkpoint as it is on disk.
func storedSet(l *loaded) *weightSet {
	w := newWeightSet("as stored", "stored", l.cfg.NumLayers)
	w.llamaCPP = l.gguf
	for _, r := range l.tensors {
		w.add(r.Role, r.Params, r.Bytes)
	}
	w.types = storedTypes(l.tensors)
	return w
}

// storedTypes totals the tensors per stored type (dtype or ggml type),
// largest first.
func storedTypes(tensors []tensorRec) []TypeBytes {
	byType := map[string]*TypeBytes{}
	for _, r := range tensors {
		tb := byType[r.DType]
		if tb == nil {
			tb = &TypeBytes{Type: r.DType}
			byType[r.DType] = tb
		}
		tb.Tensors++
		tb.Params += r.Params
		tb.Bytes += r.Bytes
	}
	var out []TypeBytes
	for _, tb := range byType {
		if tb.Params > 0 {
			tb.BitsPerWeight = float64(tb.Bytes) * 8 / float64(tb.Params)
		}
		out = append(out, *tb)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Type < out[j].Type
	})
	return out
}
