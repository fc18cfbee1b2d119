package forward

import (
	"fmt"
	"math"

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

	// rows, if set, holds the bytes instead of Data (see lazy.go).
	rows *rowReader
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
	if m.rows != nil {
		if m.rows.size != int64(rows)*rb {
			return fmt.Errorf("forward: %s holds %d bytes, want %d", what, m.rows.size, int64(rows)*rb)
		}
	} else if int64(len(m.Data)) != int64(rows)*rb {
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
	// packPairs is pack for gemmBF16: the values rounded to bfloat16,
	// pairs of inputs in wp ([(kc+1)/2][tileCols]).
	packPairs(wp []uint32, tmp []float32, o0, cols, k0, kc int)
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
	if m.Type == ggml.BF16 {
		m.packBF16(wp, o0, cols, k0, kc)
		return
	}
	m.decodePanel(tmp, o0, cols, k0, kc)
	packPanel(wp, tmp[:cols*kc], kc, 0, cols, 0, kc)
}

// decodePanel decodes rows o0..o0+cols-1, inputs k0..k0+kc-1, into tmp
// as cols rows of kc float32 values. Each row's piece is a few blocks, so
// it goes straight to the type's block decoder: DequantizeRows's checks
// and worker split would cost more than the decoding.
func (m *QuantMatrix) decodePanel(tmp []float32, o0, cols, k0, kc int) {
	// check made sure the type decodes and its blocks tile the rows.
	decode, _ := quant.BlockDecoder(m.Type)
	bs, ts := m.Type.BlockSize(), int(m.Type.TypeSize())
	rb := m.Cols / bs * ts
	from, n := k0/bs*ts, kc/bs*ts
	for j := range cols {
		row := (o0+j)*rb + from
		decode(m.Data[row:row+n], tmp[j*kc:(j+1)*kc])
	}
}

// packBF16 is pack for BF16, whose values widen to float32 exactly, so they
// go straight into the panel, four rows at a time as in packPanel.
func (m *QuantMatrix) packBF16(wp []float32, o0, cols, k0, kc int) {
	if cols < tileCols {
		clear(wp)
	}
	wp = wp[:kc*tileCols]
	in := m.Cols
	row := func(j int) []byte { return m.Data[2*((o0+j)*in+k0) : 2*((o0+j)*in+k0+kc)] }
	j := 0
	if packRows8BF16 != nil && kc%8 == 0 {
		for ; j+8 <= cols; j += 8 {
			src := m.Data[2*((o0+j)*in+k0) : 2*((o0+j+7)*in+k0+kc)]
			packRows8BF16(&wp[j], &src[0], 2*in, kc/8)
		}
	}
	for ; j+4 <= cols; j += 4 {
		r0, r1, r2, r3 := row(j), row(j+1), row(j+2), row(j+3)
		for k := range kc {
			d := (*[4]float32)(wp[k*tileCols+j:])
			d[0] = bf16(r0[2*k:])
			d[1] = bf16(r1[2*k:])
			d[2] = bf16(r2[2*k:])
			d[3] = bf16(r3[2*k:])
		}
	}
	for ; j < cols; j++ {
		r := row(j)
		for k := range kc {
			wp[k*tileCols+j] = bf16(r[2*k:])
		}
	}
}

// bf16 widens the little-endian bfloat16 at b[0:2].
func bf16(b []byte) float32 {
	return math.Float32frombits(uint32(b[0])<<16 | uint32(b[1])<<24)
}
