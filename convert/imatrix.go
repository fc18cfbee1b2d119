package convert

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/imatrix"
	"github.com/mxq-dev/mxq/quant"
)

// Imatrix is an importance matrix to quantize with, as llama-quantize
// --imatrix applies it.
type Imatrix struct {
	Matrix *imatrix.Matrix
	// Path is the file as the user gave it, recorded in the output's
	// quantize.imatrix.file.
	Path string
}

// importance holds one output tensor's importance weights: one vector of
// cols weights per matrix (expert), each matrix rowsPerMat rows.
type importance struct {
	weights    []float32
	rowsPerMat int
	file       string // the imatrix, for messages
}

// forRows returns the weights of the matrix holding output row row and the
// number of rows from row on that share them.
func (im *importance) forRows(row, cols int) ([]float32, int) {
	m := row / im.rowsPerMat
	return im.weights[m*cols : (m+1)*cols], (m+1)*im.rowsPerMat - row
}

// matDims is how llama-quantize sees a weight for its importance matrix:
// rows of ne0 values, in ne2 matrices (experts) of ne1 rows; ok is false
// for tensors of fewer than two dimensions, which are never matrices.
func matDims(dims []uint64) (nPerRow, rowsPerMat, nMat int, ok bool) {
	if len(dims) < 2 {
		return 0, 0, 0, false
	}
	nMat = 1
	for _, d := range dims[2:] {
		nMat *= int(d)
	}
	return int(dims[0]), int(dims[1]), nMat, true
}

// attachImatrix checks im against the output tensors before any data is
// read and gives every quantized tensor with an entry its weights. Tensors
// without an entry (the output head, the token embedding) are quantized
// without weights, as llama-quantize does; tensors kept in their source's
// float type ignore them.
func attachImatrix(im *Imatrix, tensors []*outTensor) error {
	var shapes []imatrix.TensorShape
	for _, t := range tensors {
		if nPerRow, _, nMat, ok := matDims(t.Dims); ok {
			shapes = append(shapes, imatrix.TensorShape{Name: t.Name, NPerRow: nPerRow, NMat: nMat})
		}
	}
	if err := im.Matrix.CheckModel(shapes); err != nil {
		return fmt.Errorf("%s: %w", im.Path, err)
	}
	for _, t := range tensors {
		nPerRow, rowsPerMat, nMat, ok := matDims(t.Dims)
		if !ok || !t.Type.IsQuantized() || rowsPerMat == 0 {
			continue
		}
		w, found, err := im.Matrix.Weights(t.Name, nPerRow, nMat)
		if err != nil {
			return fmt.Errorf("%s: %w", im.Path, err)
		}
		if !found {
			continue
		}
		for j, v := range w {
			if math.IsInf(float64(v), 0) || v != v {
				return fmt.Errorf("%s: entry %q: the weight of matrix %d, column %d (in_sum2 / count) is %v; importance weights must be finite",
					im.Path, t.Name, j/nPerRow, j%nPerRow, v)
			}
		}
		t.imp = &importance{weights: w, rowsPerMat: rowsPerMat, file: im.Path}
	}
	return nil
}

// imatrixMetadata replaces any quantize.imatrix.* keys of kv (a source
// quantized with another importance matrix) by im's, appended last as
// llama-quantize's overrides are.
func imatrixMetadata(kv []gguf.KV, im *Imatrix) []gguf.KV {
	out := kv[:0:0]
	for _, e := range kv {
		if !strings.HasPrefix(e.Key, "quantize.imatrix.") {
			out = append(out, e)
		}
	}
	return append(out, im.Matrix.QuantizeMetadata(im.Path)...)
}

// quantizeWeighted encodes c's rows of t (in) into out with t's importance
// weights, each run of rows with the weights of its matrix.
func quantizeWeighted(t *outTensor, c chunk, in []float32, out []byte, rowBytes int64) error {
	cols := t.cols()
	for r := 0; r < c.rows; {
		w, n := t.imp.forRows(c.outRow+r, cols)
		n = min(n, c.rows-r)
		if err := quant.QuantizeRowsWeighted(t.Type, in[r*cols:(r+n)*cols], cols, w, out[int64(r)*rowBytes:int64(r+n)*rowBytes], 1); err != nil {
			return err
		}
		r += n
	}
	return nil
}

// addWeighted accumulates the imatrix-weighted error of c's rows.
func addWeighted(st *quant.Stats, t *outTensor, c chunk, in, deq []float32) error {
	cols := t.cols()
	for r := 0; r < c.rows; {
		w, n := t.imp.forRows(c.outRow+r, cols)
		n = min(n, c.rows-r)
		if err := st.AddWeightedRows(in[r*cols:(r+n)*cols], deq[r*cols:(r+n)*cols], w); err != nil {
			return err
		}
		r += n
	}
	return nil
}

// blame explains a row that came out non-finite when its importance
// weights are the cause: ggml's fits sum weight × value² in float32, and
// weights near float32's limit overflow those sums, which ggml turns into
// NaN silently. It returns nil when the row also fails without weights (or
// im is nil), leaving the value's own range to be blamed.
func (im *importance) blame(t *outTensor, row []float32, outRow int) error {
	if im == nil || !quant.UsesWeights(t.Type) {
		return nil
	}
	rowBytes, err := t.Type.RowSize(int64(len(row)))
	if err != nil {
		return nil
	}
	enc := make([]byte, rowBytes)
	deq := make([]float32, len(row))
	if quant.Quantize(t.Type, row, enc) != nil || quant.Dequantize(t.Type, enc, deq) != nil {
		return nil
	}
	if _, finite := quant.FindNonFinite(deq); !finite {
		return nil
	}
	w, _ := im.forRows(outRow, len(row))
	return fmt.Errorf("%s: entry %q: importance weights up to %g make %s's float32 sums overflow (row %d comes out non-finite, and finite without them); nothing was written",
		im.file, t.Name, slices.Max(w), t.Type, outRow)
}
