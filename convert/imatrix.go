package convert

import (
	"fmt"
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
		if found {
			t.imp = &importance{weights: w, rowsPerMat: rowsPerMat}
		}
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
