package imatrix

import (
	"maps"
	"slices"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/model"
)

// Rules of llama-imatrix's collector (tools/imatrix/imatrix.cpp) and of the
// batches llama.cpp evaluates.
const (
	// MinRows is the fewest rows a plain matrix product (MUL_MAT) must
	// have for its input to be collected; expert products (MUL_MAT_ID)
	// are collected whatever their size.
	MinRows = 16
	// UBatch is llama.cpp's default physical batch: a chunk longer than
	// this is evaluated in slices of UBatch tokens, and MinRows applies to
	// each slice.
	UBatch = 512
)

// Collector accumulates an importance matrix from the forward pass, as
// llama-imatrix collects one from llama.cpp's graph: for every decoder
// layer weight (attention q, k, v and output, the router, the dense MLP or
// each expert's matrices, never the output head or the embeddings) the
// per-column sum of the squared inputs and the number of input rows,
// per expert for the merged expert tensors, from the tokens routed to
// each. Sums are kept in float64 and rounded to float32 by Matrix.
// Memory is that of the statistics: one float64 per input column per
// matrix.
type Collector struct {
	dims    forward.Dims
	entries map[string]*accumulator
}

type accumulator struct {
	nPerRow, nMat int
	sum           []float64 // [nMat*nPerRow]
	count         []int64   // [nMat]
}

// NewCollector returns an empty collector for a model of dims d.
func NewCollector(d forward.Dims) *Collector {
	return &Collector{dims: d, entries: map[string]*accumulator{}}
}

// Observe adds the input rows x of the weight w; it is a forward.Observer.
func (c *Collector) Observe(w model.TensorRole, x [][]float32) {
	if len(x) == 0 {
		return
	}
	name, nMat, mat := model.GGUFName(w), 1, 0
	isExpert := !c.dims.Dense() && (w.Role == model.RoleExpertGate || w.Role == model.RoleExpertUp || w.Role == model.RoleExpertDown)
	if isExpert {
		name = model.GGUFName(model.TensorRole{Role: w.Role, Layer: w.Layer, Expert: model.AllExperts})
		nMat, mat = c.dims.Experts, w.Expert
	}
	if name == "" || mat < 0 || mat >= nMat {
		return
	}
	if isExpert {
		c.entry(name, nMat, len(x[0])).add(mat, x)
		return
	}
	for lo := 0; lo < len(x); lo += UBatch {
		if rows := x[lo:min(lo+UBatch, len(x))]; len(rows) >= MinRows {
			c.entry(name, 1, len(x[0])).add(0, rows)
		}
	}
}

// entry returns the accumulator of name, created on first use so that a
// weight whose products were all skipped has no entry, as in llama-imatrix.
func (c *Collector) entry(name string, nMat, nPerRow int) *accumulator {
	a := c.entries[name]
	if a == nil {
		a = &accumulator{nPerRow: nPerRow, nMat: nMat, sum: make([]float64, nMat*nPerRow), count: make([]int64, nMat)}
		c.entries[name] = a
	}
	return a
}

// add sums the squares of rows into matrix mat, rows in order.
func (a *accumulator) add(mat int, rows [][]float32) {
	sum := a.sum[mat*a.nPerRow : (mat+1)*a.nPerRow]
	for _, row := range rows {
		for j, v := range row[:len(sum)] {
			sum[j] += float64(v) * float64(v)
		}
	}
	a.count[mat] += int64(len(rows))
}

// Matrix returns what was collected as a Matrix in name order: datasets
// name the calibration data, chunks and chunkSize how it was cut.
func (c *Collector) Matrix(datasets []string, chunks, chunkSize int) *Matrix {
	m := &Matrix{Datasets: datasets, ChunkCount: chunks, ChunkSize: chunkSize}
	for _, name := range slices.Sorted(maps.Keys(c.entries)) {
		a := c.entries[name]
		e := Entry{Name: name, NPerRow: a.nPerRow, NMat: a.nMat, InSum2: make([]float32, len(a.sum)), Counts: make([]float32, a.nMat)}
		for i, v := range a.sum {
			e.InSum2[i] = float32(v)
		}
		for i, v := range a.count {
			e.Counts[i] = float32(v)
		}
		m.Entries = append(m.Entries, e)
	}
	return m
}
