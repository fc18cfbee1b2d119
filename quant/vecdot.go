package quant

import (
	"fmt"

	"github.com/mxq-dev/mxq/ggml"
)

// VecDot returns the dot product of one row w, encoded as wt, with the
// float32 vector x, computed the way llama.cpp's CPU backend computes one
// element of a matrix product with its portable (generic C) kernels: x is
// first quantized to the activation type ggml pairs with wt (Q8_0 for
// Q4_0, Q5_0 and Q8_0; Q8_1 for Q4_1 and Q5_1; Q8_K for the K-quants),
// then each block pair is multiplied in integers and scaled, with the
// float32 accumulation order of ggml_vec_dot_<wt>_<act>_generic.
//
// len(x) must be a multiple of wt's block size and len(w) must equal
// wt.RowSize(len(x)). VecDot does not allocate and is safe for concurrent
// use.
func VecDot(wt ggml.Type, w []byte, x []float32) (float32, error) {
	dot, ok := vecDots[wt]
	if !ok {
		return 0, fmt.Errorf("quant: no dot product for type %s", wt)
	}
	size, err := wt.RowSize(int64(len(x)))
	if err != nil {
		return 0, fmt.Errorf("quant: %w", err)
	}
	if int64(len(w)) != size {
		return 0, fmt.Errorf("quant: %s row is %d bytes, want %d for %d elements", wt, len(w), size, len(x))
	}
	return dot(w, x), nil
}

// vecDots maps a weight type to its dot product with float32 activations;
// w and x always hold the same whole number of blocks.
var vecDots = map[ggml.Type]func(w []byte, x []float32) float32{
	ggml.Q4_0: vecDotQ4_0,
	ggml.Q4_1: vecDotQ4_1,
	ggml.Q5_0: vecDotQ5_0,
	ggml.Q5_1: vecDotQ5_1,
	ggml.Q8_0: vecDotQ8_0,
	ggml.Q2_K: vecDotQ2K,
	ggml.Q3_K: vecDotQ3K,
	ggml.Q4_K: vecDotQ4K,
	ggml.Q5_K: vecDotQ5K,
	ggml.Q6_K: vecDotQ6K,
}
