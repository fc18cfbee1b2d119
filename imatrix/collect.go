package imatrix

import (
	"context"
	"errors"
	"fmt"
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

// ComputeOptions control Compute.
type ComputeOptions struct {
	// ChunkSize is the length of a chunk in tokens; each chunk is run on
	// its own, at positions 0..ChunkSize-1, as llama-imatrix does.
	ChunkSize int
	// Chunks bounds the number of chunks; 0 runs every whole chunk
	// (tokens past the last whole chunk are not used, as in llama-imatrix).
	Chunks int
	// BOS, if >= 0, replaces the first token of every chunk, as
	// llama-imatrix does for a vocabulary that adds BOS; -1 feeds the
	// tokens as given.
	BOS int
	// Workers bounds the goroutines of the forward pass (0: all cores).
	Workers int
	// Progress, if set, is called after each chunk with the tokens done
	// and the total.
	Progress func(done, total int64)
}

// errLastLayer ends a chunk's run after its last decoder layer: the output
// head, which llama-imatrix does not collect, need not be read.
var errLastLayer = errors.New("last layer done")

// Compute runs src over tokens in chunks and collects the inputs of every
// decoder-layer weight. It returns the collector and the number of chunks
// run. Each chunk reads the model one layer (and one expert) at a time
// through forward.RunStreamed, so memory holds the embeddings while they
// are looked up, one layer's shared weights, one expert's matrices, the
// chunk's activations and the statistics.
func Compute(ctx context.Context, src forward.ExpertSource, tokens []int, o ComputeOptions) (*Collector, int, error) {
	d := src.Dims()
	if o.ChunkSize <= 0 {
		return nil, 0, fmt.Errorf("imatrix: chunk size %d must be positive", o.ChunkSize)
	}
	chunks := len(tokens) / o.ChunkSize
	if o.Chunks > 0 {
		chunks = min(chunks, o.Chunks)
	}
	if chunks == 0 {
		return nil, 0, fmt.Errorf("imatrix: %d tokens do not fill one chunk of %d", len(tokens), o.ChunkSize)
	}
	for i, id := range tokens[:chunks*o.ChunkSize] {
		if id < 0 || id >= d.Vocab {
			return nil, 0, fmt.Errorf("imatrix: token %d (id %d) is outside the vocabulary of %d", i, id, d.Vocab)
		}
	}
	c := NewCollector(d)
	chunk := make([]int, o.ChunkSize)
	total := int64(chunks * o.ChunkSize)
	for i := range chunks {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		copy(chunk, tokens[i*o.ChunkSize:])
		if o.BOS >= 0 {
			chunk[0] = o.BOS
		}
		_, err := forward.RunStreamed(src, chunk, forward.StreamOptions{
			Options: forward.Options{Workers: o.Workers, Observe: c.Observe},
			OnLayer: func(l int, _ *forward.LayerResult) error {
				if l == d.Layers-1 {
					return errLastLayer
				}
				return ctx.Err()
			},
		})
		if err != nil && !errors.Is(err, errLastLayer) {
			return nil, 0, fmt.Errorf("imatrix: chunk %d: %w", i, err)
		}
		if o.Progress != nil {
			o.Progress(int64(i+1)*int64(o.ChunkSize), total)
		}
	}
	return c, chunks, nil
}
