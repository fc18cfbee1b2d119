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

// dot is the float64-accumulated dot product of two float32 vectors of
// equal length (products of float32 values are exact in float64). Four
// independent sums hide the latency of the additions; element i goes to sum
// i%4, the tail to sum 0, and dot2 keeps exactly this order, so a token's
// result never depends on which other tokens share its matrix product.
func dot(a, b []float32) float64 {
	b = b[:len(a)]
	n := len(a) &^ 3
	var s0, s1, s2, s3 float64
	for i := 0; i < n; i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for i := n; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dot2 computes dot(w, x0) and dot(w, x1) in one pass over w, loading each
// weight once for two tokens.
func dot2(w, x0, x1 []float32) (float64, float64) {
	x0, x1 = x0[:len(w)], x1[:len(w)]
	n := len(w) &^ 3
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	for i := 0; i < n; i += 4 {
		v0, v1, v2, v3 := float64(w[i]), float64(w[i+1]), float64(w[i+2]), float64(w[i+3])
		a0 += v0 * float64(x0[i])
		a1 += v1 * float64(x0[i+1])
		a2 += v2 * float64(x0[i+2])
		a3 += v3 * float64(x0[i+3])
		b0 += v0 * float64(x1[i])
		b1 += v1 * float64(x1[i+1])
		b2 += v2 * float64(x1[i+2])
		b3 += v3 * float64(x1[i+3])
	}
	for i := n; i < len(w); i++ {
		a0 += float64(w[i]) * float64(x0[i])
		b0 += float64(w[i]) * float64(x1[i])
	}
	return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}

// rowGrain is how many weight rows one parallel chunk covers: enough work
// to amortise scheduling, small enough to balance two busy cores.
const rowGrain = 16

// chunkWork bounds the multiply-adds of one chunk (a few milliseconds), so
// that a cancelled run stops promptly even over thousands of tokens.
const chunkWork = 1 << 24

// rowsPerChunk is the grain of a product of rows of length in with tokens
// vectors: rowGrain, or fewer rows when those would exceed chunkWork.
func rowsPerChunk(tokens, in int) int {
	return max(1, min(rowGrain, chunkWork/max(1, tokens*in)))
}

// matmul sets y[t][o] = Σ_i w[o][i]·x[t][i] for the row-major matrix w of
// shape [out][in]. Each y[t] must have length out and each x[t] length in.
func matmul(ctx context.Context, w []float32, out, in int, x, y [][]float32, workers int) {
	parallelFor(ctx, out, rowsPerChunk(len(x), in), workers, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			row := w[o*in : (o+1)*in]
			t := 0
			for ; t+2 <= len(x); t += 2 {
				a, b := dot2(row, x[t], x[t+1])
				y[t][o], y[t+1][o] = float32(a), float32(b)
			}
			for ; t < len(x); t++ {
				y[t][o] = float32(dot(row, x[t]))
			}
		}
	})
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
