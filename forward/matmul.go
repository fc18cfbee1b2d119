package forward

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// defaultWorkers resolves a worker count of 0 or less to GOMAXPROCS.
func defaultWorkers(workers int) int {
	if workers <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return workers
}

// parallelFor calls f on consecutive chunks [lo, hi) of [0, n), at most
// grain long, from up to workers goroutines. Chunks are handed out on
// demand so a busy core does not hold back the others; which goroutine
// runs a chunk never changes what it computes. Once ctx is done the
// remaining chunks are skipped, leaving the result incomplete: callers
// check ctx before using it.
func parallelFor(ctx context.Context, n, grain, workers int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	workers = min(defaultWorkers(workers), chunks)
	done := ctx.Done()
	if workers == 1 {
		for lo := 0; lo < n && !cancelled(done); lo += grain {
			f(lo, min(lo+grain, n))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks || cancelled(done) {
					return
				}
				lo := c * grain
				f(lo, min(lo+grain, n))
			}
		}()
	}
	wg.Wait()
}

// cancelled reports whether done is closed, without blocking.
func cancelled(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// matmul sets y[t][o] = Σ_i w[o][i]·x[t][i] for the row-major matrix w of
// shape [out][in] (see gemm for the order of the sums). Each y[t] must have
// length out and each x[t] length in.
func matmul(ctx context.Context, w []float32, out, in int, x, y [][]float32, workers int) {
	gemm(ctx, denseWeights{w, in}, out, in, packRows(x, in), y, workers)
}

// newMatrix allocates rows×cols float32 values as one block.
func newMatrix(rows, cols int) [][]float32 {
	buf := make([]float32, rows*cols)
	m := make([][]float32, rows)
	for r := range m {
		m[r] = buf[r*cols : (r+1)*cols : (r+1)*cols]
	}
	return m
}
