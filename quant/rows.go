package quant

import (
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mxq-dev/mxq/ggml"
)

// rowGeometry checks a matrix of n elements stored as rows of rowLen
// elements of type t and returns the row count and bytes per row.
func rowGeometry(t ggml.Type, n, rowLen int) (k kernel, rows int, rowBytes int64, err error) {
	k, ok := kernels[t]
	if !ok {
		return kernel{}, 0, 0, fmt.Errorf("quant: no kernel for type %s", t)
	}
	if rowLen <= 0 {
		return kernel{}, 0, 0, fmt.Errorf("quant: row length %d is not positive", rowLen)
	}
	if n%rowLen != 0 {
		return kernel{}, 0, 0, fmt.Errorf("quant: %d elements is not a whole number of %d-element rows", n, rowLen)
	}
	rowBytes, err = t.RowSize(int64(rowLen))
	if err != nil {
		return kernel{}, 0, 0, fmt.Errorf("quant: row length: %w", err)
	}
	return k, n / rowLen, rowBytes, nil
}

// QuantizeRows encodes the rows of src (each rowLen elements) into dst as
// type t, spreading contiguous runs of rows over workers goroutines
// (workers <= 0 means runtime.GOMAXPROCS(0)). len(dst) must be the row
// count times t.RowSize(rowLen). The bytes do not depend on workers.
func QuantizeRows(t ggml.Type, src []float32, rowLen int, dst []byte, workers int) error {
	k, rows, rowBytes, err := rowGeometry(t, len(src), rowLen)
	if err != nil {
		return err
	}
	if want := int64(rows) * rowBytes; int64(len(dst)) != want {
		return fmt.Errorf("quant: %s destination is %d bytes, want %d for %d rows", t, len(dst), want, rows)
	}
	if k.requiresWeights {
		return fmt.Errorf("quant: %s needs importance weights (an imatrix)", t)
	}
	rb := int(rowBytes)
	splitRows(rows, workers, func(r0, r1 int) {
		if k.quantizeRows != nil {
			k.quantizeRows(src, rowLen, r0, r1, dst, nil)
			return
		}
		k.quantize(src[r0*rowLen:r1*rowLen], dst[r0*rb:r1*rb])
	})
	return nil
}

// QuantizeRowsWeighted is QuantizeRows with per-column importance weights,
// as ggml_quantize_chunk takes them: weights holds rowLen values applied to
// every row. nil weights means none (the unweighted quantizer, as ggml
// does); types whose quantizer ignores weights (UsesWeights false) accept
// and ignore them. Weights must be finite and non-negative.
func QuantizeRowsWeighted(t ggml.Type, src []float32, rowLen int, weights []float32, dst []byte, workers int) error {
	if weights == nil {
		return QuantizeRows(t, src, rowLen, dst, workers)
	}
	k, rows, rowBytes, err := rowGeometry(t, len(src), rowLen)
	if err != nil {
		return err
	}
	if want := int64(rows) * rowBytes; int64(len(dst)) != want {
		return fmt.Errorf("quant: %s destination is %d bytes, want %d for %d rows", t, len(dst), want, rows)
	}
	if len(weights) != rowLen {
		return fmt.Errorf("quant: %d importance weights for rows of %d", len(weights), rowLen)
	}
	for j, w := range weights {
		if !(w >= 0) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("quant: importance weight %d is %g", j, w)
		}
	}
	if k.quantizeWeighted == nil {
		return QuantizeRows(t, src, rowLen, dst, workers)
	}
	rb := int(rowBytes)
	splitRows(rows, workers, func(r0, r1 int) {
		if k.quantizeRows != nil {
			k.quantizeRows(src, rowLen, r0, r1, dst, weights)
			return
		}
		for r := r0; r < r1; r++ {
			k.quantizeWeighted(src[r*rowLen:(r+1)*rowLen], dst[r*rb:(r+1)*rb], weights)
		}
	})
	return nil
}

// DequantizeRows decodes src, rows of type t each holding rowLen
// elements, into dst, in parallel as QuantizeRows. len(dst) must be a
// multiple of rowLen and len(src) the matching number of bytes.
func DequantizeRows(t ggml.Type, src []byte, rowLen int, dst []float32, workers int) error {
	k, rows, rowBytes, err := rowGeometry(t, len(dst), rowLen)
	if err != nil {
		return err
	}
	if want := int64(rows) * rowBytes; int64(len(src)) != want {
		return fmt.Errorf("quant: %s source is %d bytes, want %d for %d rows", t, len(src), want, rows)
	}
	rb := int(rowBytes)
	splitRows(rows, workers, func(r0, r1 int) {
		k.dequantize(src[r0*rb:r1*rb], dst[r0*rowLen:r1*rowLen])
	})
	return nil
}

// splitRows calls fn on contiguous row ranges covering [0, rows), on up
// to workers goroutines at once (the caller's among them), and returns
// when every range is done.
//
// The rows go in a few pieces per worker, taken in order by whichever
// goroutine is free: a helper that starts late leaves its share to the
// others instead of making them wait, and the caller waits for the pieces,
// not for helpers that never got to start.
//
// Waking an idle thread takes tens of microseconds (35–50 µs on a virtual
// machine, whose idle virtual CPU the host must schedule again), a third of
// a call that converts a 512×4096 matrix to BF16. So a helper that finishes
// its pieces stays awake for helperLinger, yielding its processor to any
// other goroutine, and takes a seat in the next call if one comes: a run of
// calls keeps its helpers and pays the wake-up once. The caller likewise
// waits for the last pieces by yielding, for as long as a wake-up would
// take, before it sleeps, so a short call has no wake-up at its end either. Which goroutine runs a piece never
// changes what fn computes.
func splitRows(rows, workers int, fn func(r0, r1 int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, rows)
	if workers <= 1 {
		if rows > 0 {
			fn(0, rows)
		}
		return
	}
	j := &rowJob{fn: fn, rows: rows, pieces: min(rows, piecesPerWorker*workers), done: make(chan struct{})}
	j.left.Store(int64(j.pieces))
	j.seats.Store(int32(workers - 1))
	published := rowHelpers.job.CompareAndSwap(nil, j)
	// Helpers already lingering take seats themselves; start the rest.
	start := workers - 1
	if published {
		start -= int(rowHelpers.lingering.Load())
	}
	for ; start > 0 && j.takeSeat(); start-- {
		go helpRows(j)
	}
	j.work()
	j.wait()
	if published {
		rowHelpers.job.CompareAndSwap(j, nil)
	}
}

// piecesPerWorker is how many pieces splitRows cuts per worker: enough
// that a late or preempted worker costs the call little, few enough that
// each piece is long against the per-piece cost (an atomic add and the
// kernel's own set-up).
const piecesPerWorker = 4

// helperLinger is how long a helper of splitRows waits for the next call
// once its pieces are done: far longer than the gap between the calls of a
// loop, far shorter than a scheduler's time slice.
const helperLinger = 200 * time.Microsecond

// rowHelpers is the call lingering helpers join: job is the call now
// offering seats (one at a time; a concurrent call starts its own
// helpers), lingering the number of helpers waiting for one.
var rowHelpers struct {
	job       atomic.Pointer[rowJob]
	lingering atomic.Int32
}

// rowJob is one call of splitRows: pieces handed out in order by next,
// left counting those not finished (done is closed when none is), seats
// the helpers still wanted.
type rowJob struct {
	fn           func(r0, r1 int)
	rows, pieces int
	next, left   atomic.Int64
	seats        atomic.Int32
	done         chan struct{}
}

// callerSpin is how long the caller of splitRows yields, waiting for the
// last pieces, before it sleeps: about what waking it again would cost.
const callerSpin = 50 * time.Microsecond

// wait returns once every piece is finished.
func (j *rowJob) wait() {
	deadline := time.Now().Add(callerSpin)
	for j.left.Load() > 0 {
		if time.Now().After(deadline) {
			<-j.done
			return
		}
		runtime.Gosched()
	}
}

// takeSeat claims one of the job's helper seats, if any is left.
func (j *rowJob) takeSeat() bool {
	for {
		n := j.seats.Load()
		if n <= 0 {
			return false
		}
		if j.seats.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// work runs pieces until none is left to take.
func (j *rowJob) work() {
	for {
		p := int(j.next.Add(1) - 1)
		if p >= j.pieces {
			return
		}
		j.fn(j.rows*p/j.pieces, j.rows*(p+1)/j.pieces)
		if j.left.Add(-1) == 0 {
			close(j.done)
		}
	}
}

// helpRows works on j, then on each later call whose seat it takes
// within helperLinger of finishing the previous one.
func helpRows(j *rowJob) {
	for j != nil {
		j.work()
		j = lingerForJob(j)
	}
}

// lingerForJob waits up to helperLinger for a call other than done with a
// seat free, and returns it, or nil.
func lingerForJob(done *rowJob) *rowJob {
	rowHelpers.lingering.Add(1)
	defer rowHelpers.lingering.Add(-1)
	deadline := time.Now().Add(helperLinger)
	for {
		if j := rowHelpers.job.Load(); j != nil && j != done && j.takeSeat() {
			return j
		}
		if time.Now().After(deadline) {
			return nil
		}
		runtime.Gosched()
	}
}
