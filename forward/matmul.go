package forward

import (
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
// runs a chunk never changes what it computes.
func parallelFor(n, grain, workers int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	workers = min(defaultWorkers(workers), chunks)
	if workers == 1 {
		f(0, n)
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
				if c >= chunks {
					return
				}
				lo := c * grain
				f(lo, min(lo+grain, n))
			}
		}()
	}
	wg.Wait()
}

// matmul sets y[t][o] = Σ_i w[o][i]·x[t][i] for the row-major matrix w of
// shape [out][in] (see gemm for the order of the sums). Each y[t] must have
// length out and each x[t] length in.
func matmul(w []float32, out, in int, x, y [][]float32, workers int) {
	gemm(denseWeights{w, in}, out, in, packRows(x, in), y, workers)
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
