package convert

import (
	"fmt"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// PlannedTensor is one tensor of a GGUF plan, as a type planner sees it.
type PlannedTensor struct {
	Name string
	Dims []uint64 // GGUF ne order
	Role model.TensorRole
	Type ggml.Type // the type the plan stores it in
	// Parts is the number of source matrices stacked into the tensor: the
	// experts of a merged expert tensor, 1 otherwise. Each has PartRows
	// rows of Dims[0] values.
	Parts, PartRows int
}

// Tensors lists the plan's tensors in file order.
func (p *GGUFPlan) Tensors() []PlannedTensor {
	out := make([]PlannedTensor, len(p.tensors))
	for i, t := range p.tensors {
		out[i] = PlannedTensor{Name: t.Name, Dims: t.Dims, Role: t.Role, Type: t.Type, Parts: len(t.parts), PartRows: t.rows() / max(len(t.parts), 1)}
	}
	return out
}

// TensorBytes is the tensor data of the plan, without header and padding.
func (p *GGUFPlan) TensorBytes() int64 {
	var n int64
	for _, t := range p.tensors {
		b, _ := t.Type.RowSize(t.numElements())
		n += b
	}
	return n
}

// ReadRows decodes the given rows of part (expert) part of tensor i into
// dst as float32, rows in the order given; dst holds len(rows)×Dims[0]
// values. Rows are read as stored in the source: the q/k permutation of a
// conversion only reorders whole rows, which row-wise error does not see.
func (p *GGUFPlan) ReadRows(i, part int, rows []int, dst []float32) error {
	if i < 0 || i >= len(p.tensors) || part < 0 || part >= len(p.tensors[i].parts) {
		return fmt.Errorf("tensor %d part %d: out of range", i, part)
	}
	m := p.tensors[i].parts[part].src
	if len(dst) < len(rows)*m.cols {
		return fmt.Errorf("tensor %s: %d values do not hold %d rows of %d", p.tensors[i].Name, len(dst), len(rows), m.cols)
	}
	raw := make([]byte, m.rowBytes)
	for k, r := range rows {
		if r < 0 || r >= m.rows {
			return fmt.Errorf("tensor %s: row %d outside [0, %d)", p.tensors[i].Name, r, m.rows)
		}
		if err := m.readRows(r, 1, raw, dst[k*m.cols:(k+1)*m.cols]); err != nil {
			return err
		}
	}
	return nil
}
