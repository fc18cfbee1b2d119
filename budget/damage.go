package budget

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// RelativeError quantizes rows (each of cols values) to typ and returns
// Σ w·(x−x̂)² / Σ w·x² over all of them, with w the importance weights of
// the columns (nil: every column weighs 1). The weights also go to the
// quantizer when the type uses them, as the real conversion does.
func RelativeError(typ ggml.Type, rows []float32, cols int, weights []float32) (float64, error) {
	if cols <= 0 || len(rows)%cols != 0 {
		return 0, fmt.Errorf("%d values are not rows of %d", len(rows), cols)
	}
	if weights != nil && len(weights) != cols {
		return 0, fmt.Errorf("%d importance weights for rows of %d", len(weights), cols)
	}
	size, err := typ.RowSize(int64(len(rows)))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, size)
	if weights != nil && quant.UsesWeights(typ) {
		err = quant.QuantizeRowsWeighted(typ, rows, cols, weights, buf, 1)
	} else {
		err = quant.QuantizeRows(typ, rows, cols, buf, 1)
	}
	if err != nil {
		return 0, err
	}
	deq := make([]float32, len(rows))
	if err := quant.DequantizeRows(typ, buf, cols, deq, 1); err != nil {
		return 0, err
	}
	var num, den float64
	for i, x := range rows {
		w := 1.0
		if weights != nil {
			w = float64(weights[i%cols])
		}
		d := float64(x) - float64(deq[i])
		num += w * d * d
		den += w * float64(x) * float64(x)
	}
	if den == 0 {
		return 0, nil
	}
	return num / den, nil
}

// Prior damage model, used when no tensor data is read (a dry run): the
// relative squared error of each type on seeded Gaussian rows, quantized
// with the same kernels (uniform importance weights for the types that
// require them). Real weights are heavier-tailed than a Gaussian, so the
// figures rank the types correctly but are not the measured damage.
const (
	priorRows = 32
	priorCols = 1024
	priorSeed = 0x6d787170
)

var (
	priorOnce sync.Once
	priorData []float32
	priorMu   sync.Mutex
	priorErr  = map[ggml.Type]float64{}
)

// PriorRelativeError is the prior damage model's relative squared error
// of typ, computed once per type.
func PriorRelativeError(typ ggml.Type) (float64, error) {
	priorOnce.Do(func() {
		r := rand.New(rand.NewPCG(priorSeed, priorSeed))
		priorData = make([]float32, priorRows*priorCols)
		for i := range priorData {
			priorData[i] = float32(r.NormFloat64())
		}
	})
	priorMu.Lock()
	defer priorMu.Unlock()
	if e, ok := priorErr[typ]; ok {
		return e, nil
	}
	var w []float32
	if quant.RequiresWeights(typ) {
		w = make([]float32, priorCols)
		for i := range w {
			w[i] = 1
		}
	}
	e, err := RelativeError(typ, priorData, priorCols, w)
	if err != nil {
		return 0, err
	}
	priorErr[typ] = e
	return e, nil
}

// SampleRows picks n distinct rows of [0, rows) with a generator seeded by
// seed and the tensor's name and part, so the sample does not depend on
// the order tensors are measured in. All rows when n ≥ rows.
func SampleRows(rows, n int, seed uint64, name string, part int) []int {
	if n >= rows {
		out := make([]int, rows)
		for i := range out {
			out[i] = i
		}
		return out
	}
	h := uint64(14695981039346656037) // FNV-1a of the name
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	r := rand.New(rand.NewPCG(seed, h^uint64(part)))
	perm := r.Perm(rows)[:n]
	return perm
}
