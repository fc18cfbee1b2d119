package quant

import (
	"fmt"
	"math"
	"runtime"
	"sync"

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

// splitRows calls fn on at most workers contiguous, near-equal row ranges
// covering [0, rows), concurrently, and waits for them all.
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
	var wg sync.WaitGroup
	for w := range workers {
		r0, r1 := rows*w/workers, rows*(w+1)/workers
		wg.Go(func() { fn(r0, r1) })
	}
	wg.Wait()
}
