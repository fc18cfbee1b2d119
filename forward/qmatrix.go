package forward

import (
	"fmt"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// QuantMatrix is a row-major weight matrix [Rows][Cols] kept in a ggml
// block format (any type quant can dequantize, F32 and BF16 included).
// The matrix products decode it one panel of rows at a time, once per
// product, so memory holds the stored bytes instead of float32 values.
type QuantMatrix struct {
	Type       ggml.Type
	Rows, Cols int
	Data       []byte
}

// check verifies the shape against rows×cols and the size of Data.
func (m *QuantMatrix) check(what string, rows, cols int) error {
	if m.Rows != rows || m.Cols != cols {
		return fmt.Errorf("forward: %s is %d×%d, want %d×%d", what, m.Rows, m.Cols, rows, cols)
	}
	if !quant.Supported(m.Type) {
		return fmt.Errorf("forward: %s: cannot dequantize type %s", what, m.Type)
	}
	rb, err := m.Type.RowSize(int64(cols))
	if err != nil {
		return fmt.Errorf("forward: %s: %w", what, err)
	}
	if int64(len(m.Data)) != int64(rows)*rb {
		return fmt.Errorf("forward: %s holds %d bytes, want %d", what, len(m.Data), int64(rows)*rb)
	}
	if panelLen%m.Type.BlockSize() != 0 {
		return fmt.Errorf("forward: %s: blocks of %d values do not tile panels of %d", what, m.Type.BlockSize(), panelLen)
	}
	return nil
}

// weightPanels hands gemm the panels of a weight matrix [out][in].
type weightPanels interface {
	// pack writes rows o0..o0+cols-1, inputs k0..k0+kc-1, k-major into
	// wp ([kc][tileCols], missing rows zero); tmp is scratch of at least
	// tileCols·panelLen values.
	pack(wp, tmp []float32, o0, cols, k0, kc int)
}

// denseWeights is a float32 matrix with rows of in values.
type denseWeights struct {
	w  []float32
	in int
}

func (d denseWeights) pack(wp, _ []float32, o0, cols, k0, kc int) {
	packPanel(wp, d.w, d.in, o0, cols, k0, kc)
}

// pack decodes the blocks of the panel's rows into tmp, then lays them
// out k-major. Panels start at multiples of panelLen, so each one covers
// whole blocks (check makes sure).
func (m *QuantMatrix) pack(wp, tmp []float32, o0, cols, k0, kc int) {
	rb, _ := m.Type.RowSize(int64(m.Cols))
	bs, ts := m.Type.BlockSize(), m.Type.TypeSize()
	from, n := k0/bs*ts, kc/bs*ts
	for j := range cols {
		row := int64(o0+j) * rb
		src := m.Data[row+int64(from) : row+int64(from+n)]
		// The geometry was checked, so decoding cannot fail.
		_ = quant.DequantizeRows(m.Type, src, kc, tmp[j*kc:(j+1)*kc], 1)
	}
	packPanel(wp, tmp[:cols*kc], kc, 0, cols, 0, kc)
}
