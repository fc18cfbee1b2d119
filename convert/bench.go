package convert

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// KernelTiming is what BenchKernels measured.
type KernelTiming struct {
	Wall time.Duration // the quantizing phases, end to end
	// CPU is the process's CPU time during those phases, by the clock
	// BenchKernels was given (0 without one).
	CPU      time.Duration
	Elements int64 // values quantized
}

// BenchKernels quantizes every chunk of the plan as Run does — the same
// chunks and blocks of rows, types, importance weights and number of
// workers — and times the quantizers alone, for comparison with Run. Each
// round, every worker reads a chunk; then, block by block, every worker
// decodes its block, and once all have, they quantize their blocks at
// once while the clocks run: the quantizers find their input in the cache
// as they do in a conversion. Nothing is dequantized, measured or
// written. cpu, if not nil, returns the process's CPU time so far.
func (p *GGUFPlan) BenchKernels(ctx context.Context, cpu func() time.Duration) (KernelTiming, error) {
	var kt KernelTiming
	workers := p.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunks := planChunks(p.tensors)
	wks := make([]worker, workers)
	ins := make([][]float32, workers)
	errs := make([]error, workers)
	for lo := 0; lo < len(chunks); lo += workers {
		if err := ctx.Err(); err != nil {
			return kt, err
		}
		round := chunks[lo:min(lo+workers, len(chunks))]
		// phase runs f for every chunk of the round at once.
		phase := func(f func(k int, t *outTensor, c chunk) error) error {
			var wg sync.WaitGroup
			for k, c := range round {
				wg.Go(func() { errs[k] = f(k, p.tensors[c.tensor], c) })
			}
			wg.Wait()
			for _, err := range errs[:len(round)] {
				if err != nil {
					return err
				}
			}
			return nil
		}
		err := phase(func(k int, t *outTensor, c chunk) (err error) {
			ins[k], err = wks[k].load(t, c)
			return err
		})
		if err != nil {
			return kt, err
		}
		blocks := 0
		for _, c := range round {
			blocks = max(blocks, (c.rows+blockRows(p.tensors[c.tensor].cols())-1)/blockRows(p.tensors[c.tensor].cols()))
		}
		for b := range blocks {
			err := phase(func(k int, t *outTensor, c chunk) error {
				if r0, n := blockSpan(c, t.cols(), b); n > 0 {
					return wks[k].ready(t, c, r0, n)
				}
				return nil
			})
			if err != nil {
				return kt, err
			}
			var c0 time.Duration
			if cpu != nil {
				c0 = cpu()
			}
			t0 := time.Now()
			err = phase(func(k int, t *outTensor, c chunk) error {
				r0, n := blockSpan(c, t.cols(), b)
				if n == 0 {
					return nil
				}
				// A GGUF plan's tensors are all ggml rows (ggufRows).
				rowBytes, err := t.Type.RowSize(int64(t.cols()))
				if err != nil {
					return err
				}
				rb, cols := int(rowBytes), t.cols()
				wks[k].out = grow(wks[k].out, n*rb)
				block := c
				block.row0, block.outRow, block.rows = c.row0+r0, c.outRow+r0, n
				return wks[k].quantize(t, block, ins[k][r0*cols:(r0+n)*cols], r0, wks[k].out)
			})
			kt.Wall += time.Since(t0)
			if cpu != nil {
				kt.CPU += cpu() - c0
			}
			if err != nil {
				return kt, err
			}
		}
		for _, c := range round {
			kt.Elements += int64(c.rows) * int64(p.tensors[c.tensor].cols())
		}
	}
	return kt, nil
}

// blockSpan is block b of c's rows as forBlocks cuts them: its first row
// within c and its number of rows, 0 past the last block.
func blockSpan(c chunk, cols, b int) (r0, n int) {
	step := blockRows(cols)
	r0 = b * step
	return r0, max(0, min(step, c.rows-r0))
}
