package quant

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

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
// goroutine is free: a helper that starts late (waking an idle thread
// takes tens of microseconds, and longer on a busy machine) leaves its
// share to the others instead of making them wait, which matters when a
// whole call takes well under a millisecond. The caller waits for the
// pieces, not for helpers that never got to start: one that starts after
// the last piece was taken returns without calling fn.
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
	pieces := min(rows, piecesPerWorker*workers)
	var next atomic.Int64
	var done sync.WaitGroup
	done.Add(pieces)
	work := func() {
		for {
			p := int(next.Add(1) - 1)
			if p >= pieces {
				return
			}
			fn(rows*p/pieces, rows*(p+1)/pieces)
			done.Done()
		}
	}
	for range workers - 1 {
		go work()
	}
	work()
	done.Wait()
}

// piecesPerWorker is how many pieces splitRows cuts per worker: enough
// that a late or preempted worker costs the call little, few enough that
// each piece is long against the per-piece cost (an atomic add and the
// kernel's own set-up).
const piecesPerWorker = 4
