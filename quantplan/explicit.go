package quantplan

import (
	"fmt"

	"github.com/mxq-dev/mxq/ggml"
)

// explicitType is the decision for a type pinned by Options.Types. The
// row length must be whole blocks of it: a planner offers only such types,
// so a mismatch is an error rather than a silent fallback.
func explicitType(t TensorDesc, typ ggml.Type) (Decision, error) {
	if !RowFits(typ, t.Dims) {
		return Decision{}, fmt.Errorf("tensor %s: row length %d is not a multiple of the %v block size %d", t.Name, t.Dims[0], typ, typ.BlockSize())
	}
	return Decision{Type: typ, Rule: "planned → " + typ.String(), Quantizable: true}, nil
}

// RowFits reports whether rows of dims[0] elements are whole blocks of typ.
func RowFits(typ ggml.Type, dims []uint64) bool {
	bs := uint64(typ.BlockSize())
	return len(dims) > 0 && bs > 0 && dims[0]%bs == 0
}

// Quantizable reports whether llama-quantize would quantize t at all
// (tensor_allows_quantization); norms, the router and 1-D tensors are not.
func Quantizable(t TensorDesc, opts Options) bool {
	_, ok := allowsQuantization(t, opts)
	return ok
}
