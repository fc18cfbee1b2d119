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
// chunks, types, importance weights and number of workers — and times the
// quantizers alone, for comparison with Run: in each round every worker
// first reads and decodes a chunk, then, once all have, they quantize
// their chunks at once while the clocks run. Nothing is dequantized,
// measured or written. cpu, if not nil, returns the process's CPU time so
// far.
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
		var c0 time.Duration
		if cpu != nil {
			c0 = cpu()
		}
		t0 := time.Now()
		err = phase(func(k int, t *outTensor, c chunk) error {
			// A GGUF plan's tensors are all ggml rows (ggufRows).
			rowBytes, err := t.Type.RowSize(int64(t.cols()))
			if err != nil {
				return err
			}
			wks[k].out = grow(wks[k].out, c.rows*int(rowBytes))
			return wks[k].quantize(t, c, ins[k], 0, wks[k].out)
		})
		kt.Wall += time.Since(t0)
		if cpu != nil {
			kt.CPU += cpu() - c0
		}
		if err != nil {
			return kt, err
		}
		for _, c := range round {
			kt.Elements += int64(c.rows) * int64(p.tensors[c.tensor].cols())
		}
	}
	return kt, nil
}
