package convert

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// A chunk of a stacked tensor that spans experts is quantized with each
// expert's own weights, row for row as if each expert were quantized
// alone, and its weighted error is measured with them too.
func TestQuantizeWeightedAcrossExperts(t *testing.T) {
	const cols, rowsPerExpert, experts = 256, 3, 3
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]float32, cols*rowsPerExpert*experts)
	for i := range in {
		in[i] = float32(r.NormFloat64())
	}
	w := make([]float32, cols*experts)
	for i := range w {
		w[i] = float32(r.ExpFloat64()) * float32(1+i/cols*10)
	}
	ot := &outTensor{Name: "blk.0.ffn_up_exps.weight", Dims: []uint64{cols, rowsPerExpert, experts}, Type: ggml.Q4_K,
		imp: &importance{weights: w, rowsPerMat: rowsPerExpert}}
	rowBytes, err := ggml.Q4_K.RowSize(cols)
	if err != nil {
		t.Fatal(err)
	}
	// Rows 2..7: the last row of expert 0, all of expert 1, the first two of expert 2.
	c := chunk{rows: 6, outRow: 2}
	src := in[2*cols : 8*cols]
	got := make([]byte, 6*rowBytes)
	if err := quantizeWeighted(ot, c, src, got, rowBytes); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 0, len(got))
	for row := 2; row < 8; row++ {
		e := row / rowsPerExpert
		b := make([]byte, rowBytes)
		if err := quant.QuantizeRowsWeighted(ggml.Q4_K, in[row*cols:(row+1)*cols], cols, w[e*cols:(e+1)*cols], b, 1); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("rows differ from quantizing each expert's rows with its own weights")
	}
	deq := make([]float32, len(src))
	if err := quant.Dequantize(ggml.Q4_K, got, deq); err != nil {
		t.Fatal(err)
	}
	st := quant.NewStats(cols, 0, 1)
	if err := addWeighted(st, ot, c, src, deq); err != nil {
		t.Fatal(err)
	}
	ref := quant.NewStats(cols, 0, 1)
	for row := 2; row < 8; row++ {
		e := row / rowsPerExpert
		o := (row - 2) * cols
		if err := ref.AddWeightedRows(src[o:o+cols], deq[o:o+cols], w[e*cols:(e+1)*cols]); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := st.Result().ImatrixError, ref.Result().ImatrixError; a == nil || b == nil || *a != *b {
		t.Errorf("weighted error %v, row by row %v", a, b)
	}
}
