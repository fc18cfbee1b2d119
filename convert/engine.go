package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/safetext"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
)

// outTensor is one tensor of the output file and where its rows come from.
type outTensor struct {
	Name  string
	Dims  []uint64 // GGUF ne order
	Type  ggml.Type
	Rule  string // why Type was chosen
	Role  model.TensorRole
	parts []part // consecutive row ranges; one per expert for merged tensors
	// enc stores the encoded rows; nil means ggml rows of Type written
	// at the tensor's offset, as GGUF stores them.
	enc encoder
	// imp, if set, holds the importance weights the quantizer fits with,
	// and the report's imatrix-weighted error is measured with them.
	imp *importance
}

// part is a run of output rows read from one source matrix.
type part struct {
	src *matrix
	// headDim and reorder describe the q/k row permutation; headDim 0
	// copies rows in order.
	headDim int
	reorder func(r, headDim int) int
	// align, if above 1, is the row multiple at which chunks must start.
	align int
}

func (t *outTensor) cols() int { return int(t.Dims[0]) }

func (t *outTensor) rows() int {
	n := 1
	for _, d := range t.Dims[1:] {
		n *= int(d)
	}
	return n
}

// storedAs names how the tensor's values are stored, for messages.
func (t *outTensor) storedAs() string {
	if t.enc == nil || t.enc == stRows {
		return t.Type.String()
	}
	return "its quantized layout"
}

func (t *outTensor) numElements() int64 { return int64(t.rows()) * int64(t.cols()) }

// ValidationProbes is the number of seeded activation vectors each tensor is
// multiplied with to measure the matmul error; probeSeed fixes them.
const (
	ValidationProbes = 4
	probeSeed        = 0x6d7871
)

// chunkElems is the target size of one unit of work: large enough to
// amortise a read, small enough that every core has work on a small layer.
const chunkElems = 1 << 20

type chunk struct {
	seq    int
	tensor int
	part   int
	row0   int // first row within the part
	rows   int
	outRow int // first row within the tensor
}

// planChunks splits every part into row ranges. A permuted part is cut at
// head boundaries so the rows a chunk needs are exactly its own rows.
func planChunks(tensors []*outTensor) []chunk {
	var out []chunk
	for ti, t := range tensors {
		cols := t.cols()
		step := chunkElems / cols
		if step < 1 {
			step = 1
		}
		outRow := 0
		for pi, p := range t.parts {
			s := step
			if p.headDim > 0 {
				s = max(1, s/p.headDim) * p.headDim
			}
			if p.align > 1 {
				s = max(1, s/p.align) * p.align
			}
			for r := 0; r < p.src.rows; r += s {
				n := min(s, p.src.rows-r)
				out = append(out, chunk{seq: len(out), tensor: ti, part: pi, row0: r, rows: n, outRow: outRow + r})
			}
			outRow += p.src.rows
		}
	}
	return out
}

// TensorStats are the validation metrics of one output tensor, and of each
// expert when the tensor stacks experts.
type TensorStats struct {
	Total   quant.Metrics
	Experts []quant.Metrics
}

// encoder stores the encoded rows of an output tensor. encode is called
// from any worker, concurrently for different chunks, and hands measure
// what a reader decodes from what was stored, deq, with the values it
// encodes, in: every row of c once, in order, in runs of whole rows (rc
// says which). partDone is called once per part, from the merging
// goroutine, after every chunk of the part was encoded.
type encoder interface {
	encode(wk *worker, t *outTensor, c chunk, in []float32, w io.WriterAt, offset int64, measure measureFunc) error
	partDone(t *outTensor, part int, w io.WriterAt) error
}

// measureFunc checks and measures rows rc of a tensor: their values in
// and what a reader decodes of them, deq.
type measureFunc func(rc chunk, in, deq []float32) error

// ggmlRows encodes rows with the ggml kernel of the tensor's Type and
// writes them at their place in a row-major tensor, which is how both GGUF
// and safetensors (for F32, F16 and BF16) store them. f16Hint says how to
// avoid an F16 overflow.
type ggmlRows struct{ f16Hint string }

var ggufRows encoder = ggmlRows{f16Hint: "use --type BF16"}

// blockElems is how many values ggmlRows quantizes before measuring them:
// few enough that they are still in the cache.
const blockElems = 1 << 16

// blockRows is how many rows of cols values make a block.
func blockRows(cols int) int { return max(1, blockElems/cols) }

func (e ggmlRows) encode(wk *worker, t *outTensor, c chunk, in []float32, w io.WriterAt, offset int64, measure measureFunc) error {
	cols := t.cols()
	rowBytes, err := t.Type.RowSize(int64(cols))
	if err != nil {
		return fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	rb := int(rowBytes)
	wk.out = grow(wk.out, c.rows*rb)
	wk.deq = grow(wk.deq, cols)
	// A block of rows is quantized, then each of its rows decoded and
	// measured while the block's values are still in the cache.
	err = forBlocks(c, cols, func(block chunk, r0 int) error {
		n := block.rows
		if err := wk.ready(t, c, r0, n); err != nil {
			return err
		}
		in := in[r0*cols : (r0+n)*cols]
		if t.Type == ggml.F16 {
			if i, fits := quant.CheckF16Range(in); !fits {
				return fmt.Errorf("tensor %s: value %g at [%d, %d] overflows F16 (max 65504); %s",
					t.Name, in[i], block.outRow+i/cols, i%cols, e.f16Hint)
			}
		}
		out := wk.out[r0*rb : (r0+n)*rb]
		if err := wk.quantize(t, block, in, r0, out); err != nil {
			return err
		}
		for r := range n {
			if err := quant.Dequantize(t.Type, out[r*rb:(r+1)*rb], wk.deq); err != nil {
				return fmt.Errorf("tensor %s: %w", t.Name, err)
			}
			row := block
			row.row0, row.outRow, row.rows = block.row0+r, block.outRow+r, 1
			if err := measure(row, in[r*cols:(r+1)*cols], wk.deq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := w.WriteAt(wk.out, offset+int64(c.outRow)*rowBytes); err != nil {
		return fmt.Errorf("writing tensor %s: %w", t.Name, err)
	}
	return nil
}

// forBlocks calls f with c's rows in blocks of about blockElems values,
// each with its first row within c, and yields the processor between
// them. Left alone, a worker runs for many milliseconds at a stretch and
// the runtime preempts it with signals, which cost several percent of the
// CPU time in profiles (runtime.asyncPreempt, mostly while in assembly
// kernels, where a goroutine cannot stop); a worker that yields every
// block or so is never signalled.
func forBlocks(c chunk, cols int, f func(block chunk, r0 int) error) error {
	step := blockRows(cols)
	for r0 := 0; r0 < c.rows; r0 += step {
		if r0 > 0 {
			runtime.Gosched()
		}
		block := c
		block.row0, block.outRow, block.rows = c.row0+r0, c.outRow+r0, min(step, c.rows-r0)
		if err := f(block, r0); err != nil {
			return err
		}
	}
	return nil
}

func (ggmlRows) partDone(*outTensor, int, io.WriterAt) error { return nil }

// quantize encodes c's rows of t, in, into out as ggml rows of t.Type;
// the rows are rows r0.. of what wk.load last read, for a copy of the
// source's bytes.
func (wk *worker) quantize(t *outTensor, c chunk, in []float32, r0 int, out []byte) error {
	var err error
	if p := t.parts[c.part]; p.headDim == 0 && p.src.typ == t.Type && t.Type.IsQuantized() {
		// llama-quantize copies a tensor already of its target type
		// rather than quantizing its decoded values again.
		copy(out, wk.raw[int64(r0)*p.src.rowBytes:])
	} else if t.imp != nil {
		err = quantizeWeighted(t, c, in, out, int64(len(out)/c.rows))
	} else {
		err = quant.Quantize(t.Type, in, out)
	}
	if err != nil {
		return fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return nil
}

func (t *outTensor) encoder() encoder {
	if t.enc != nil {
		return t.enc
	}
	return ggufRows
}

type worker struct {
	raw      []byte
	in, perm []float32
	deq      []float32
	out      []byte
	lazy     bool // in is decoded from raw by ready
}

type chunkResult struct {
	c     chunk
	stats *quant.Stats
	err   error
}

// runEngine writes every tensor's data at offsets[i] in w and returns the
// validation statistics. progress, if not nil, is called with the number of
// source elements finished, from one goroutine.
func runEngine(ctx context.Context, tensors []*outTensor, offsets []int64, w io.WriterAt, workers int, progress func(elems int64)) (_ []TensorStats, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunks := planChunks(tensors)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	todo := make(chan chunk)
	done := make(chan chunkResult, workers)
	// slots bounds the chunks read but not yet merged, which bounds memory.
	slots := make(chan struct{}, 2*workers)

	go func() {
		defer close(todo)
		for _, c := range chunks {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case todo <- c:
			case <-ctx.Done():
				return
			}
		}
	}()

	// One probe set per row length, shared read-only by every chunk.
	probes := map[int]*quant.Stats{}
	for _, t := range tensors {
		if probes[t.cols()] == nil {
			probes[t.cols()] = quant.NewStats(t.cols(), ValidationProbes, probeSeed)
		}
	}

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var wk worker
			for c := range todo {
				t := tensors[c.tensor]
				st, err := wk.process(t, c, offsets[c.tensor], w, probes[t.cols()].Fork())
				done <- chunkResult{c: c, stats: st, err: err}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	// last[i][p] is the sequence number of part p of tensor i's last chunk.
	last := make([][]int, len(tensors))
	for i, t := range tensors {
		last[i] = make([]int, len(t.parts))
	}
	for _, c := range chunks {
		last[c.tensor][c.part] = c.seq
	}

	// Merge in sequence order so floating-point sums, and so the report,
	// do not depend on scheduling.
	partStats := make([][]*quant.Stats, len(tensors))
	for i, t := range tensors {
		partStats[i] = make([]*quant.Stats, len(t.parts))
	}
	pending := map[int]chunkResult{}
	next := 0
	var firstErr error
	for res := range done {
		if res.err != nil {
			if firstErr == nil {
				firstErr = res.err
				cancel()
			}
			<-slots
			continue
		}
		pending[res.c.seq] = res
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			ps := &partStats[r.c.tensor][r.c.part]
			if *ps == nil {
				*ps = r.stats
			} else {
				(*ps).Merge(r.stats)
			}
			if progress != nil {
				progress(int64(r.c.rows) * int64(tensors[r.c.tensor].cols()))
			}
			if firstErr == nil && r.c.seq == last[r.c.tensor][r.c.part] {
				t := tensors[r.c.tensor]
				if err := t.encoder().partDone(t, r.c.part, w); err != nil {
					firstErr = err
					cancel()
				}
			}
			<-slots
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if next != len(chunks) {
		return nil, errors.New("convert: internal error: not every chunk was processed")
	}
	out := make([]TensorStats, len(tensors))
	for i, t := range tensors {
		total := probes[t.cols()].Fork()
		for _, ps := range partStats[i] {
			if ps == nil {
				continue
			}
			total.Merge(ps)
			if len(t.parts) > 1 {
				out[i].Experts = append(out[i].Experts, ps.Result())
			}
		}
		out[i].Total = total.Result()
	}
	return out, nil
}

// culprit is, in the row of element i, the element of largest magnitude
// among those stored as NaN or ±Inf: in a block whose scale overflowed,
// the value that made it overflow.
func culprit(in, deq []float32, i, cols int) int {
	row := i / cols * cols
	for j := row; j < row+cols; j++ {
		if _, finite := quant.FindNonFinite(deq[j : j+1]); !finite && math.Abs(float64(in[j])) > math.Abs(float64(in[i])) {
			i = j
		}
	}
	return i
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// load returns the buffer of the float32 values of c's rows of t, in
// output order. Rows kept in the source's order are read, decoded and
// checked by ready, a block at a time, so that each block is read,
// decoded, checked, quantized and measured while it is in the cache;
// permuted rows are read, decoded and checked here.
func (wk *worker) load(t *outTensor, c chunk) ([]float32, error) {
	p := t.parts[c.part]
	cols := t.cols()
	n := c.rows * cols
	wk.raw = grow(wk.raw, int(int64(c.rows)*p.src.rowBytes))
	wk.in = grow(wk.in, n)
	wk.lazy = p.headDim == 0
	if wk.lazy {
		return wk.in, nil
	}
	if err := p.src.readRows(c.row0, c.rows, wk.raw, wk.in); err != nil {
		return nil, err
	}
	wk.perm = grow(wk.perm, n)
	permuteRows(wk.perm, wk.in, c.rows, cols, p.headDim, p.reorder)
	return wk.perm, checkFinite(p, c.outRow, wk.perm, cols)
}

// ready reads, decodes and checks rows [r0, r0+n) of the chunk c given to
// load, unless load did; their bytes go to the same place in wk.raw as if
// the whole chunk had been read.
func (wk *worker) ready(t *outTensor, c chunk, r0, n int) error {
	if !wk.lazy {
		return nil
	}
	p := t.parts[c.part]
	cols := t.cols()
	in := wk.in[r0*cols : (r0+n)*cols]
	if err := p.src.readRows(c.row0+r0, n, wk.raw[int64(r0)*p.src.rowBytes:], in); err != nil {
		return err
	}
	return checkFinite(p, c.outRow+r0, in, cols)
}

// checkFinite fails on the first NaN or ±Inf in rows of part p whose
// first is output row row0.
func checkFinite(p part, row0 int, in []float32, cols int) error {
	if i, finite := quant.FindNonFinite(in); !finite {
		return fmt.Errorf("%s: tensor %s: element [%d, %d] is %v", p.src.file, p.src.tensor, row0+i/cols, i%cols, in[i])
	}
	return nil
}

func (wk *worker) process(t *outTensor, c chunk, offset int64, w io.WriterAt, st *quant.Stats) (*quant.Stats, error) {
	in, err := wk.load(t, c)
	if err != nil {
		return nil, err
	}
	err = t.encoder().encode(wk, t, c, in, w, offset, func(rc chunk, in, deq []float32) error {
		return wk.measure(t, rc, in, deq, st)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// measure checks what a reader decodes from c's rows of t, deq, and adds
// its error against in to st.
func (wk *worker) measure(t *outTensor, c chunk, in, deq []float32, st *quant.Stats) error {
	cols := t.cols()
	// A finite weight can still be stored as ±Inf or NaN: a block scale
	// beyond F16's range (|w| above about 8e6 in Q8_0), a float rounding
	// up past BF16's largest value. What a reader decodes is checked: in
	// is finite, so the statistics count every such value.
	bad := st.NonFiniteOut()
	if err := st.AddRows(in, deq); err != nil {
		return fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	if st.NonFiniteOut() != bad {
		i, _ := quant.FindNonFinite(deq)
		i = culprit(in, deq, i, cols)
		if err := t.imp.blame(t, in[i/cols*cols:][:cols], c.outRow+i/cols); err != nil {
			return err
		}
		return fmt.Errorf("tensor %s: element [%d, %d] = %g is stored as %v: beyond what %s can hold; nothing was written",
			t.Name, c.outRow+i/cols, i%cols, in[i], deq[i], t.storedAs())
	}
	if t.imp != nil {
		if err := addWeighted(st, t, c, in, deq); err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
	}
	return nil
}
