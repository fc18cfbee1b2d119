package quantplan

import (
	"fmt"
	"math/bits"
	"sort"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// Planned is one tensor with its chosen type and stored size.
type Planned struct {
	Name     string
	Dims     []uint64
	Layer    int
	Decision // chosen type and rule
	Elements int64
	Bytes    int64
}

// TypeTotal sums the tensors stored in one type.
type TypeTotal struct {
	Type     ggml.Type
	Tensors  int
	Elements int64
	Bytes    int64
	// BitsPerWeight is the type's own storage cost, block scales included.
	BitsPerWeight float64
}

// Plan is the type mix of a whole model for one file type.
type Plan struct {
	FileType ggml.FileType
	Tensors  []Planned
	ByType   []TypeTotal // by descending bytes
	Elements int64
	Bytes    int64 // tensor data only: no metadata, no alignment padding
	// BitsPerWeight is the mix's effective cost: Bytes×8 / Elements.
	BitsPerWeight float64
}

// Build decides every tensor's type and sums the sizes.
func Build(ftype ggml.FileType, tensors []TensorDesc, opts Options) (*Plan, error) {
	p := &Plan{FileType: ftype, Tensors: make([]Planned, 0, len(tensors))}
	byType := map[ggml.Type]*TypeTotal{}
	for _, t := range tensors {
		d, err := Decide(ftype, t, opts)
		if err != nil {
			return nil, err
		}
		n, err := elements(t.Dims)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		b, err := TensorBytes(d.Type, t.Dims)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		p.Tensors = append(p.Tensors, Planned{Name: t.Name, Dims: t.Dims, Layer: t.Layer, Decision: d, Elements: n, Bytes: b})
		tt := byType[d.Type]
		if tt == nil {
			tt = &TypeTotal{Type: d.Type, BitsPerWeight: d.Type.BitsPerWeight()}
			byType[d.Type] = tt
		}
		tt.Tensors++
		tt.Elements += n
		tt.Bytes += b
		p.Elements += n
		p.Bytes += b
	}
	for _, tt := range byType {
		p.ByType = append(p.ByType, *tt)
	}
	sort.Slice(p.ByType, func(i, j int) bool {
		if p.ByType[i].Bytes != p.ByType[j].Bytes {
			return p.ByType[i].Bytes > p.ByType[j].Bytes
		}
		return p.ByType[i].Type < p.ByType[j].Type
	})
	if p.Elements > 0 {
		p.BitsPerWeight = float64(p.Bytes) * 8 / float64(p.Elements)
	}
	return p, nil
}

func elements(dims []uint64) (int64, error) {
	n := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > 1<<62 {
			return 0, fmt.Errorf("dimensions %v overflow", dims)
		}
		n = lo
	}
	return int64(n), nil
}

// TensorBytes is the stored size of a tensor of type t with ne dims: rows of
// dims[0] elements, each a whole number of blocks.
func TensorBytes(t ggml.Type, dims []uint64) (int64, error) {
	if len(dims) == 0 {
		return 0, fmt.Errorf("no dimensions")
	}
	n, err := elements(dims)
	if err != nil {
		return 0, err
	}
	if dims[0] == 0 {
		return 0, nil
	}
	row, err := t.RowSize(int64(dims[0]))
	if err != nil {
		return 0, err
	}
	rows := uint64(n) / dims[0]
	hi, lo := bits.Mul64(rows, uint64(row))
	if hi != 0 || lo > 1<<62 {
		return 0, fmt.Errorf("size of %v %v overflows", t, dims)
	}
	return int64(lo), nil
}

// FromConfig describes the GGUF that llama.cpp's converter makes from a
// Hugging Face checkpoint of c: norms and the router stored as F32, every
// other matrix as matrixType (F16 for a default conversion).
func FromConfig(c *model.Config, matrixType ggml.Type) []TensorDesc {
	nexp := 0
	if c.IsMoE() {
		nexp = c.NumExperts
	}
	gqa := 1
	if c.NumKVHeads > 0 {
		gqa = c.NumHeads / c.NumKVHeads
	}
	exp := c.GGUFTensors()
	out := make([]TensorDesc, len(exp))
	for i, e := range exp {
		dims := make([]uint64, len(e.Shape))
		for j, d := range e.Shape {
			dims[j] = uint64(d)
		}
		src := matrixType
		if len(dims) < 2 || e.Role.Role == model.RoleRouter {
			src = ggml.F32
		}
		out[i] = TensorDesc{Name: e.Name, Dims: dims, Layer: e.Role.Layer, NExpert: nexp, NLayer: c.NumLayers, Source: src, GQA: gqa}
	}
	return out
}
