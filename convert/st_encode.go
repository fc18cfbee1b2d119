package convert

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/mxq-dev/mxq/quant/intq"
)

// stRows writes F32, F16 or BF16 rows of an unquantized safetensors
// tensor: ggml's rows of those types are the row-major bytes safetensors
// stores.
var stRows encoder = ggmlRows{f16Hint: "use --dtype bf16"}

// intqEncoder quantizes each part (one Linear weight; one expert's weight
// of a stacked tensor) with an intq layout. The rows of a part are
// quantized concurrently into a Plan that holds that weight's packed
// tensors; when the last row is done the tensors are written where the
// layout put them, and the Plan is dropped, so memory holds only the
// weights being worked on.
type intqEncoder struct {
	layout  intq.Layout
	scheme  intq.Scheme
	out, in int
	// dst[k] is the output offset of stored tensor k (in the layout's
	// order); part p of a stacked tensor starts p slices further.
	dst []int64
	// fixed[k]: stored tensor k does not depend on the weight and was
	// written before the engine ran (see SafetensorsPlan.writeTo).
	fixed []bool

	mu    sync.Mutex
	plans []*intq.Plan // by part, while the part is in flight
}

func newIntqEncoder(l intq.Layout, s intq.Scheme, out, in, parts int) *intqEncoder {
	return &intqEncoder{layout: l, scheme: s, out: out, in: in, plans: make([]*intq.Plan, parts)}
}

func (e *intqEncoder) plan(part int) (*intq.Plan, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.plans[part] == nil {
		p, err := e.layout.NewPlan(e.out, e.in, e.scheme)
		if err != nil {
			return nil, err
		}
		e.plans[part] = p
	}
	return e.plans[part], nil
}

func (e *intqEncoder) encode(wk *worker, t *outTensor, c chunk, in []float32, _ io.WriterAt, _ int64, measure measureFunc) error {
	if err := wk.ready(t, c, 0, c.rows); err != nil {
		return err
	}
	wk.deq = grow(wk.deq, len(in))
	deq := wk.deq
	p, err := e.plan(c.part)
	if err == nil {
		err = p.QuantizeRows(in, c.row0, c.row0+c.rows, deq)
	}
	if errors.Is(err, intq.ErrRange) && e.scheme.ScaleDType == "F16" {
		return fmt.Errorf("tensor %s: %w; use --dtype bf16", t.Name, err)
	}
	if err != nil {
		return fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return measure(c, in, deq)
}

func (e *intqEncoder) partDone(t *outTensor, part int, w io.WriterAt) error {
	e.mu.Lock()
	p := e.plans[part]
	e.plans[part] = nil
	e.mu.Unlock()
	if p == nil {
		return fmt.Errorf("tensor %s: internal error: part %d finished without rows", t.Name, part)
	}
	stored := p.Tensors()
	if len(stored) != len(e.dst) {
		return fmt.Errorf("tensor %s: internal error: %d packed tensors, %d planned", t.Name, len(stored), len(e.dst))
	}
	for k, s := range stored {
		if e.fixed[k] {
			continue
		}
		if _, err := w.WriteAt(s.Data, e.dst[k]+int64(part)*int64(len(s.Data))); err != nil {
			return fmt.Errorf("writing tensor %s: %w", t.Name, err)
		}
	}
	return nil
}
