package forward

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
)

const tinyDir = "../testdata/tiny-mixtral"

// openTiny opens the tiny checkpoint through FromSafetensors.
func openTiny(t testing.TB) (Source, *model.Config) {
	t.Helper()
	ckpt, err := safetensors.OpenCheckpoint(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ckpt.Close() })
	cfg, err := model.LoadConfig(filepath.Join(tinyDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := FromSafetensors(ckpt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src, cfg
}

// memSource is a Source over weights held in memory.
type memSource struct {
	dims            Dims
	emb, norm, outW []float32
	layers          []*LayerWeights
}

func (m *memSource) Dims() Dims                     { return m.dims }
func (m *memSource) Embedding() ([]float32, error)  { return m.emb, nil }
func (m *memSource) OutputNorm() ([]float32, error) { return m.norm, nil }
func (m *memSource) Output() ([]float32, error)     { return m.outW, nil }
func (m *memSource) Layer(i int) (*LayerWeights, error) {
	return m.layers[i], nil
}

// loadAll reads every weight of src into a memSource.
func loadAll(t testing.TB, src Source) *memSource {
	t.Helper()
	m := &memSource{dims: src.Dims()}
	var err error
	if m.emb, err = src.Embedding(); err != nil {
		t.Fatal(err)
	}
	if m.norm, err = src.OutputNorm(); err != nil {
		t.Fatal(err)
	}
	if m.outW, err = src.Output(); err != nil {
		t.Fatal(err)
	}
	for l := range m.dims.Layers {
		lw, err := src.Layer(l)
		if err != nil {
			t.Fatal(err)
		}
		m.layers = append(m.layers, lw)
	}
	return m
}

func maxDiff64(a [][]float32, b [][]float64) float64 {
	m := 0.0
	for i := range a {
		for j := range a[i] {
			m = max(m, math.Abs(float64(a[i][j])-b[i][j]))
		}
	}
	return m
}

func maxDiff(a, b [][]float32) float64 {
	m := 0.0
	for i := range a {
		for j := range a[i] {
			m = max(m, math.Abs(float64(a[i][j])-float64(b[i][j])))
		}
	}
	return m
}

// rng is a small deterministic generator for synthetic weights.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s ^= r.s << 13
	r.s ^= r.s >> 7
	r.s ^= r.s << 17
	return r.s
}

// fill sets v to uniform values in [-scale, scale).
func (r *rng) fill(v []float32, scale float32) []float32 {
	for i := range v {
		v[i] = (float32(r.next()>>40)/float32(1<<24)*2 - 1) * scale
	}
	return v
}

func (r *rng) vec(n int, scale float32) []float32 { return r.fill(make([]float32, n), scale) }

func (r *rng) matrix(rows, cols int, scale float32) [][]float32 {
	m := newMatrix(rows, cols)
	for i := range m {
		r.fill(m[i], scale)
	}
	return m
}

// randomLayer builds a layer of d with random weights; norms are near 1.
func randomLayer(d Dims, r *rng) *LayerWeights {
	h, q, kv := d.Hidden, d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	norm := func() []float32 {
		v := r.vec(h, 0.1)
		for i := range v {
			v[i]++
		}
		return v
	}
	lw := &LayerWeights{
		AttnNorm: norm(), FFNNorm: norm(),
		Q: r.vec(q*h, 0.15), K: r.vec(kv*h, 0.15), V: r.vec(kv*h, 0.1), O: r.vec(h*q, 0.1),
	}
	if !d.Dense() {
		lw.Router = r.vec(d.Experts*h, 0.5)
	}
	for range d.numExperts() {
		lw.Experts = append(lw.Experts, Expert{
			Gate: r.vec(d.Intermediate*h, 0.1), Down: r.vec(h*d.Intermediate, 0.1), Up: r.vec(d.Intermediate*h, 0.1),
		})
	}
	return lw
}

// permuteQK reorders the rows of a q or k projection ([nHead*headDim][in])
// the way llama.cpp's converter does (formats.md §2):
// new_row[h*hd + 2i + j] = old_row[h*hd + j*hd/2 + i].
func permuteQK(w []float32, nHead, headDim, in int) []float32 {
	out := make([]float32, len(w))
	for h := range nHead {
		for i := range headDim / 2 {
			for j := range 2 {
				dst := h*headDim + 2*i + j
				src := h*headDim + j*headDim/2 + i
				copy(out[dst*in:(dst+1)*in], w[src*in:(src+1)*in])
			}
		}
	}
	return out
}

// quantizedMatrix quantizes w ([out][in]) to typ as a QuantMatrix and
// returns it with its dequantized values.
func quantizedMatrix(t *testing.T, typ ggml.Type, w []float32, out, in int) (*QuantMatrix, []float32) {
	t.Helper()
	rb, err := typ.RowSize(int64(in))
	if err != nil {
		t.Fatal(err)
	}
	q := &QuantMatrix{Type: typ, Rows: out, Cols: in, Data: make([]byte, out*int(rb))}
	if err := quant.QuantizeRows(typ, w, in, q.Data, 1); err != nil {
		t.Fatal(err)
	}
	deq := make([]float32, out*in)
	if err := quant.DequantizeRows(typ, q.Data, in, deq, 1); err != nil {
		t.Fatal(err)
	}
	return q, deq
}
