package forward

import (
	"fmt"
	"io"
	"sync"

	"github.com/mxq-dev/mxq/ggml"
)

// A streamed pass reads a GGUF expert's matrices a block of rows at a time,
// as each worker of a product reaches the block, instead of whole before the
// product: the block (tileCols rows, under a megabyte) then comes to the
// worker's cache and is packed from there, where a whole matrix (hundreds of
// megabytes) would be written to memory and read back, and the reading is
// spread over the workers instead of running alone before the products.

// rowReader is where a lazily read QuantMatrix's bytes are: row r at
// offset r·rowBytes of src, size bytes in all. The first read error is
// kept, and the rows it should have filled read as zeros.
type rowReader struct {
	src      io.ReaderAt
	rowBytes int64
	size     int64

	mu  sync.Mutex
	err error
}

// lazyMatrix returns a matrix whose bytes stay in src until a product
// reads them.
func lazyMatrix(typ ggml.Type, rows, cols int, src io.ReaderAt, rowBytes int64) *QuantMatrix {
	return &QuantMatrix{Type: typ, Rows: rows, Cols: cols, rows: &rowReader{src: src, rowBytes: rowBytes, size: int64(rows) * rowBytes}}
}

// readErr returns the first error reading m's rows, if any.
func (m *QuantMatrix) readErr() error {
	if m == nil || m.rows == nil {
		return nil
	}
	m.rows.mu.Lock()
	defer m.rows.mu.Unlock()
	return m.rows.err
}

// rowView is one worker's view of a block of a lazily read matrix.
type rowView struct {
	buf []byte
	m   QuantMatrix
}

// block returns the panels of rows o0..o0+cols-1 of w and the row at
// which they start in them: w itself and o0, or, for a lazily read matrix,
// those rows read into v's buffer, from row 0.
func (v *rowView) block(w weightPanels, o0, cols int) (weightPanels, int) {
	q, ok := w.(*QuantMatrix)
	if !ok || q.rows == nil {
		return w, o0
	}
	r := q.rows
	n := int64(cols) * r.rowBytes
	if int64(cap(v.buf)) < n {
		v.buf = make([]byte, n)
	}
	b := v.buf[:n]
	if _, err := r.src.ReadAt(b, int64(o0)*r.rowBytes); err != nil {
		clear(b)
		r.mu.Lock()
		if r.err == nil {
			r.err = fmt.Errorf("forward: reading rows %d..%d: %w", o0, o0+cols-1, err)
		}
		r.mu.Unlock()
	}
	v.m = QuantMatrix{Type: q.Type, Rows: cols, Cols: q.Cols, Data: b}
	return &v.m, 0
}
