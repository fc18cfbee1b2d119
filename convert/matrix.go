package convert

import (
	"fmt"
	"io"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// matrix is a 2-D view of stored tensor data: rows of cols elements of one
// ggml type, read through an io.ReaderAt positioned at the first row.
type matrix struct {
	file     string // for error messages
	tensor   string
	typ      ggml.Type
	rows     int
	cols     int
	rowBytes int64
	r        io.ReaderAt
}

func newMatrix(file, tensor string, typ ggml.Type, rows, cols int, r io.ReaderAt) (*matrix, error) {
	if !quant.Supported(typ) {
		return nil, fmt.Errorf("%s: tensor %s: type %s cannot be decoded", file, tensor, typ)
	}
	rb, err := typ.RowSize(int64(cols))
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %s: %w", file, tensor, err)
	}
	return &matrix{file: file, tensor: tensor, typ: typ, rows: rows, cols: cols, rowBytes: rb, r: r}, nil
}

// readRows decodes rows [r0, r0+n) into dst as float32, using raw as the
// byte buffer; both must be large enough.
func (m *matrix) readRows(r0, n int, raw []byte, dst []float32) error {
	if err := m.read(r0, n, raw); err != nil {
		return err
	}
	return quant.Dequantize(m.typ, raw[:int64(n)*m.rowBytes], dst[:n*m.cols])
}

// read reads the bytes of rows [r0, r0+n) into raw.
func (m *matrix) read(r0, n int, raw []byte) error {
	if _, err := m.r.ReadAt(raw[:int64(n)*m.rowBytes], int64(r0)*m.rowBytes); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%s: tensor %s: reading rows %d-%d: %w", m.file, m.tensor, r0, r0+n-1, err)
	}
	return nil
}
