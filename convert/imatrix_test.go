package convert

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/imatrix"
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

// tinyShapes are the matrices of tiny-mixtral as GGUF tensors.
func tinyShapes() []*outTensor {
	var out []*outTensor
	add := func(name string, dims ...uint64) {
		out = append(out, &outTensor{Name: name, Dims: dims, Type: ggml.Q4_K})
	}
	add("token_embd.weight", 256, 1024)
	add("output.weight", 256, 1024)
	for _, l := range []string{"0", "1"} {
		p := "blk." + l + "."
		add(p+"attn_q.weight", 256, 256)
		add(p+"attn_k.weight", 256, 128)
		add(p+"attn_v.weight", 256, 128)
		add(p+"attn_output.weight", 256, 256)
		add(p+"ffn_gate_inp.weight", 256, 8)
		add(p+"ffn_gate_exps.weight", 256, 512, 8)
		add(p+"ffn_up_exps.weight", 256, 512, 8)
		add(p+"ffn_down_exps.weight", 512, 256, 8)
	}
	return out
}

// Whatever importance matrix a file decodes to, checking it against a
// model and deriving the weights never panics, and the weights handed to
// the quantizers are finite, non-negative and of the tensor's size.
func FuzzAttachImatrix(f *testing.F) {
	for _, name := range []string{"tiny-mixtral.imatrix.gguf", "tiny-mixtral.imatrix.dat", "tiny-mixtral.partial.imatrix.gguf", "tiny-mixtral.partial.imatrix.dat"} {
		b, err := os.ReadFile(filepath.Join("../testdata/tiny-mixtral-imatrix", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := imatrix.Decode(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			return
		}
		tensors := tinyShapes()
		if err := attachImatrix(&Imatrix{Matrix: m, Path: "fuzz"}, tensors); err != nil {
			return
		}
		for _, ot := range tensors {
			if ot.imp == nil {
				continue
			}
			nPerRow, _, nMat, _ := matDims(ot.Dims)
			if len(ot.imp.weights) != nPerRow*nMat {
				t.Fatalf("%s: %d weights", ot.Name, len(ot.imp.weights))
			}
			for _, w := range ot.imp.weights {
				if !(w >= 0) || math.IsInf(float64(w), 0) {
					t.Fatalf("%s: weight %g", ot.Name, w)
				}
			}
		}
	})
}
