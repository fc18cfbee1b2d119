// Package quant holds mxq's quantization kernels: ggml's block types,
// reproduced bit for bit from ggml's reference quantizers, their
// dequantizers, and the error metrics measured while quantizing.
//
// Every kernel works on whole rows: a row is a run of float32 values whose
// length is a multiple of the type's block size. Kernels never allocate in
// their hot loops and are safe for concurrent use on disjoint rows.
package quant

import (
	"fmt"

	"github.com/mxq-dev/mxq/ggml"
)

// kernel is one type's row quantizer and dequantizer. src and dst always
// hold a whole number of blocks, checked by the exported wrappers.
//
// quantizeWeighted, when set, quantizes one row with per-column importance
// weights (ggml's quant_weights: len(weights) == len(src), the row's
// length); types without it ignore weights, as ggml does for Q8_0 and the
// float types. requiresWeights marks types ggml cannot make without them
// (IQ2_XXS, IQ2_XS, IQ1_S); their quantize may be nil.
type kernel struct {
	quantize         func(src []float32, dst []byte)
	dequantize       func(src []byte, dst []float32)
	quantizeWeighted func(src []float32, dst []byte, weights []float32)
	requiresWeights  bool
	// quantizeRows, when set, replaces both quantizers in QuantizeRows and
	// QuantizeRowsWeighted: it writes rows [r0, r1) of the matrix src
	// (rows of rowLen values) to their places in dst, with weights or nil,
	// and may read the rows before r0. It serves the types whose ggml
	// quantizer carries state from row to row (IQ1_S, IQ1_M).
	quantizeRows func(src []float32, rowLen, r0, r1 int, dst []byte, weights []float32)
}

var kernels = map[ggml.Type]kernel{}

// register is called from the init of each type's file.
func register(t ggml.Type, k kernel) {
	if _, dup := kernels[t]; dup {
		panic("quant: kernel registered twice for " + t.String())
	}
	kernels[t] = k
}

// Supported reports whether mxq can quantize to and dequantize from t.
func Supported(t ggml.Type) bool { _, ok := kernels[t]; return ok }

// UsesWeights reports whether t's quantizer takes importance weights into
// account (ggml ignores them for Q8_0, F16, BF16, F32, MXFP4, TQ1_0, TQ2_0).
func UsesWeights(t ggml.Type) bool { return kernels[t].quantizeWeighted != nil }

// RequiresWeights reports whether t cannot be made without importance
// weights, as ggml asserts for IQ2_XXS, IQ2_XS and IQ1_S.
func RequiresWeights(t ggml.Type) bool { return kernels[t].requiresWeights }

// SupportedTypes lists the types with kernels, in ggml id order.
func SupportedTypes() []ggml.Type {
	var out []ggml.Type
	for t := ggml.Type(0); t < 64; t++ {
		if Supported(t) {
			out = append(out, t)
		}
	}
	return out
}

func lookup(t ggml.Type, n int) (kernel, int64, error) {
	k, ok := kernels[t]
	if !ok {
		return kernel{}, 0, fmt.Errorf("quant: no kernel for type %s", t)
	}
	size, err := t.RowSize(int64(n))
	if err != nil {
		return kernel{}, 0, fmt.Errorf("quant: %w", err)
	}
	return k, size, nil
}

// Quantize encodes src into dst as type t. len(src) must be a multiple of
// t's block size and len(dst) must equal t.RowSize(len(src)).
func Quantize(t ggml.Type, src []float32, dst []byte) error {
	k, size, err := lookup(t, len(src))
	if err != nil {
		return err
	}
	if int64(len(dst)) != size {
		return fmt.Errorf("quant: %s destination is %d bytes, want %d", t, len(dst), size)
	}
	if k.requiresWeights {
		return fmt.Errorf("quant: %s needs importance weights (an imatrix)", t)
	}
	k.quantize(src, dst)
	return nil
}

// Dequantize decodes src, encoded as type t, into dst. len(dst) must be a
// multiple of t's block size and len(src) must equal t.RowSize(len(dst)).
func Dequantize(t ggml.Type, src []byte, dst []float32) error {
	k, size, err := lookup(t, len(dst))
	if err != nil {
		return err
	}
	if int64(len(src)) != size {
		return fmt.Errorf("quant: %s source is %d bytes, want %d", t, len(src), size)
	}
	k.dequantize(src, dst)
	return nil
}
