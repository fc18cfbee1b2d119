package forward

import (
	"context"
	"fmt"
)

// Arithmetic selects how the forward pass multiplies activations by the
// weight matrices of the decoder layers and the output head.
type Arithmetic int

const (
	// Float32 multiplies and sums in float32, fused multiply-adds where
	// the CPU has them: the arithmetic that agrees with transformers'
	// float32 logits to about 1e-5. It is the default.
	Float32 Arithmetic = iota
	// BF16 rounds the activations to bfloat16 (nearest even, as ggml's
	// conversion; subnormals become zero, as the AVX-512 instruction
	// makes them), takes BF16 weights as stored and rounds the values of
	// every other weight type, once decoded, to bfloat16 too; it sums the
	// exact products of pairs of inputs in float32 (VDPBF16PS where the
	// CPU has AVX512_BF16, a Go loop doing the same sums elsewhere). This
	// is what llama.cpp computes for BF16 weights on such a CPU, at up to
	// twice the float32 speed, but each product loses what bfloat16's 8
	// significant bits cannot hold (a relative error up to 2⁻⁸ per
	// factor): the logits drift from float32's by far more than the
	// 1e-4 the float32 mode holds to (up to 0.03 on tiny-mixtral, whose
	// logits reach 3.9), though comparisons barely move (its Q4_K_M GGUF
	// against it: mean KL 0.028528 nats instead of 0.028614). The router
	// and attention's score and value products, small and decisive for
	// which experts and positions count, stay in float32.
	BF16
)

func (a Arithmetic) String() string {
	switch a {
	case Float32:
		return "float32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Arithmetic(%d)", int(a))
}

// ParseArithmetic returns the Arithmetic named s ("float32" or "bf16").
func ParseArithmetic(s string) (Arithmetic, error) {
	switch s {
	case "float32":
		return Float32, nil
	case "bf16":
		return BF16, nil
	}
	return 0, fmt.Errorf("unknown arithmetic %q (want float32 or bf16)", s)
}

// check rejects values other than Float32 and BF16.
func (a Arithmetic) check() error {
	if a != Float32 && a != BF16 {
		return fmt.Errorf("forward: unknown %v", a)
	}
	return nil
}

// exec is how the products of a pass run: on how many workers (<= 0:
// GOMAXPROCS) and in which arithmetic.
type exec struct {
	workers int
	arith   Arithmetic
}

// tokens are a chunk of token rows packed for the arithmetic of a pass:
// one of f32 and pairs is set.
type tokens struct {
	f32   *packedRows
	pairs *packedPairs
}

// pack lays x ([T][in]) out for ex.gemm.
func (ex exec) pack(x [][]float32, in int) tokens { return ex.packInto(nil, x, in) }

// packInto is pack into the memory of the tokens last packed into s, if
// s is not nil and that is large enough; the tokens then share it.
func (ex exec) packInto(s *tokens, x [][]float32, in int) tokens {
	var t tokens
	if ex.arith == BF16 {
		var buf []uint32
		if s != nil && s.pairs != nil {
			buf = s.pairs.data
		}
		t.pairs = packPairsInto(buf, x, in)
	} else {
		var buf []float32
		if s != nil && s.f32 != nil {
			buf = s.f32.data
		}
		t.f32 = packRowsInto(buf, x, in)
	}
	if s != nil {
		*s = t
	}
	return t
}

// gemm multiplies the packed tokens x by the weight matrix w ([out][in])
// into y in ex's arithmetic (see gemm and gemmBF16).
func (ex exec) gemm(ctx context.Context, w weightPanels, out, in int, x tokens, y [][]float32) {
	if x.pairs != nil {
		gemmBF16(ctx, w, out, in, x.pairs, y, ex.workers)
		return
	}
	gemm(ctx, w, out, in, x.f32, y, ex.workers)
}

// matmul is matmul in ex's arithmetic.
func (ex exec) matmul(ctx context.Context, w []float32, out, in int, x, y [][]float32) {
	ex.gemm(ctx, denseWeights{w, in}, out, in, ex.pack(x, in), y)
}
