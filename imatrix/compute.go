package imatrix

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/model"
)

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
	// Arithmetic of the forward pass's products with the weights
	// (forward.Float32 by default). With forward.BF16 the statistics are
	// still sums of float32 inputs, but of inputs computed by the coarser
	// bf16 products of the layers before.
	Arithmetic forward.Arithmetic
	// Budget bounds the activations held, in bytes (0: DefaultBudget):
	// half for the hidden states of all chunks between layers (beyond it
	// they go to a temporary file), half for the tokens whose MoE block
	// runs at once (each group of them reads every expert once).
	Budget int64
	// TempDir holds the spilled states ("" means os.TempDir()).
	TempDir string
	// Progress, if set, is called as work is done with the token-layers
	// done and their total.
	Progress func(done, total int64)
}

// DefaultBudget is the activation memory Compute uses when none is given.
const DefaultBudget = 2 << 30

// Compute runs src over tokens cut into chunks and collects the inputs of
// every decoder-layer weight. It returns the collector and the number of
// chunks run.
//
// It goes layer by layer rather than chunk by chunk, so that each weight
// is read and decoded once (once per group of tokens for the experts)
// however long the calibration data: for each layer it reads the shared
// weights, runs the attention of every chunk, then the MoE block of as
// many tokens as Budget allows at once, reading one expert at a time.
// Memory is one layer's shared weights, one expert, the statistics and at
// most Budget of activations (the embedding table is held only while the
// tokens are looked up). The statistics equal those of running each chunk
// through the whole model in turn, bit for bit: every token's arithmetic
// is the same whichever tokens share a matrix product.
func Compute(ctx context.Context, src forward.ExpertSource, tokens []int, o ComputeOptions) (*Collector, int, error) {
	d := src.Dims()
	if err := d.Check(); err != nil {
		return nil, 0, err
	}
	T := o.ChunkSize
	if T <= 0 {
		return nil, 0, fmt.Errorf("imatrix: chunk size %d must be positive", T)
	}
	chunks := len(tokens) / T
	if o.Chunks > 0 {
		chunks = min(chunks, o.Chunks)
	}
	if chunks == 0 {
		return nil, 0, fmt.Errorf("imatrix: %d tokens do not fill one chunk of %d", len(tokens), T)
	}
	for i, id := range tokens[:chunks*T] {
		if id < 0 || id >= d.Vocab {
			return nil, 0, fmt.Errorf("imatrix: token %d (id %d) is outside the vocabulary of %d", i, id, d.Vocab)
		}
	}
	budget := o.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	st, err := newStates(chunks, T, d.Hidden, budget/2, o.TempDir)
	if err != nil {
		return nil, 0, err
	}
	defer st.close()
	if err := embedChunks(src, d, tokens, chunks, T, o.BOS, st); err != nil {
		return nil, 0, err
	}

	// A token in a MoE group holds its residual, MoE input and output
	// (3 hidden vectors) and, in the worst case, one expert's activation
	// and output for it.
	perToken := 4 * int64(4*d.Hidden+d.Intermediate)
	group := int(max(1, budget/2/(perToken*int64(T))))
	c := NewCollector(d)
	total, done := int64(d.Layers)*int64(chunks*T), int64(0)
	for l := range d.Layers {
		lw, err := src.LayerShared(l)
		if err != nil {
			return nil, 0, fmt.Errorf("imatrix: layer %d: %w", l, err)
		}
		p := forward.LayerPieces{Layer: l, Workers: o.Workers, Arithmetic: o.Arithmetic, Observe: c.perChunk(T)}
		expert := func(e int) (*forward.Expert, error) { return forward.StreamedExpert(src, l, e) }
		for first := 0; first < chunks; first += group {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			last := min(first+group, chunks)
			var resid, x [][]float32
			for ch := first; ch < last; ch++ {
				h, err := st.get(ch)
				if err != nil {
					return nil, 0, err
				}
				r, xc, err := p.Attention(ctx, lw, d, h)
				if err != nil {
					return nil, 0, fmt.Errorf("imatrix: layer %d: %w", l, err)
				}
				resid, x = append(resid, r...), append(x, xc...)
			}
			m, err := p.MoE(ctx, lw.Router, d, x, expert)
			if err != nil {
				return nil, 0, fmt.Errorf("imatrix: layer %d: %w", l, err)
			}
			for i, row := range resid {
				for j, v := range m.Out[i] {
					row[j] += v
				}
			}
			for ch := first; ch < last; ch++ {
				if err := st.put(ch, resid[(ch-first)*T:(ch-first+1)*T]); err != nil {
					return nil, 0, err
				}
			}
			done += int64((last - first) * T)
			if o.Progress != nil {
				o.Progress(done, total)
			}
		}
	}
	return c, chunks, nil
}

// perChunk returns the Observer Compute runs a layer with. The router and
// a dense MLP multiply every token of a group of chunks at once, where
// llama.cpp multiplies one chunk's batch at a time, so their rows are
// passed on one chunk (T rows) at a time for the row rule to apply per
// chunk; an expert's rows, which no rule limits, are passed on whole.
func (c *Collector) perChunk(T int) forward.Observer {
	return func(w model.TensorRole, x [][]float32) {
		switch w.Role {
		case model.RoleRouter, model.RoleFFNGate, model.RoleFFNUp, model.RoleFFNDown:
			for lo := 0; lo < len(x); lo += T {
				c.Observe(w, x[lo:min(lo+T, len(x))])
			}
		default:
			c.Observe(w, x)
		}
	}
}

// embedChunks looks every chunk's tokens up in the embedding table and
// stores them as the first layer's input.
func embedChunks(src forward.ExpertSource, d forward.Dims, tokens []int, chunks, T, bos int, st *states) error {
	emb, err := src.Embedding()
	if err != nil {
		return fmt.Errorf("imatrix: embedding: %w", err)
	}
	if len(emb) != d.Vocab*d.Hidden {
		return fmt.Errorf("imatrix: embedding has %d values, want %d", len(emb), d.Vocab*d.Hidden)
	}
	h := newMatrix(T, d.Hidden)
	for ch := range chunks {
		for t, id := range tokens[ch*T : (ch+1)*T] {
			if t == 0 && bos >= 0 {
				id = bos
			}
			copy(h[t], emb[id*d.Hidden:(id+1)*d.Hidden])
		}
		if err := st.put(ch, h); err != nil {
			return err
		}
		if st.file == nil {
			h = newMatrix(T, d.Hidden)
		}
	}
	return nil
}

func newMatrix(rows, cols int) [][]float32 {
	buf := make([]float32, rows*cols)
	m := make([][]float32, rows)
	for r := range m {
		m[r] = buf[r*cols : (r+1)*cols : (r+1)*cols]
	}
	return m
}

// states holds each chunk's hidden states between layers: in memory when
// they fit the budget, else in a temporary file that close removes.
type states struct {
	rows, cols int
	mem        [][][]float32
	file       *os.File
	buf        []byte
}

func newStates(chunks, rows, cols int, budget int64, dir string) (*states, error) {
	s := &states{rows: rows, cols: cols}
	if int64(chunks)*int64(rows)*int64(cols)*4 <= budget {
		s.mem = make([][][]float32, chunks)
		return s, nil
	}
	f, err := os.CreateTemp(dir, "mxq-imatrix-states-*")
	if err != nil {
		return nil, fmt.Errorf("imatrix: spilling hidden states: %w", err)
	}
	s.file, s.buf = f, make([]byte, rows*cols*4)
	return s, nil
}

// put stores chunk ch's states; in memory it keeps h itself.
func (s *states) put(ch int, h [][]float32) error {
	if s.file == nil {
		s.mem[ch] = h
		return nil
	}
	for t, row := range h {
		for j, v := range row {
			binary.LittleEndian.PutUint32(s.buf[4*(t*s.cols+j):], math.Float32bits(v))
		}
	}
	if _, err := s.file.WriteAt(s.buf, int64(ch)*int64(len(s.buf))); err != nil {
		return fmt.Errorf("imatrix: spilling hidden states: %w", err)
	}
	return nil
}

// get returns chunk ch's states.
func (s *states) get(ch int) ([][]float32, error) {
	if s.file == nil {
		return s.mem[ch], nil
	}
	if n, err := s.file.ReadAt(s.buf, int64(ch)*int64(len(s.buf))); n < len(s.buf) {
		return nil, fmt.Errorf("imatrix: reading spilled hidden states: %w", err)
	}
	h := newMatrix(s.rows, s.cols)
	for t, row := range h {
		for j := range row {
			row[j] = math.Float32frombits(binary.LittleEndian.Uint32(s.buf[4*(t*s.cols+j):]))
		}
	}
	return h, nil
}

func (s *states) close() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
	}
}
