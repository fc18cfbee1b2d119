package forward

import "fmt"

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
	// significant bits cannot hold (a relative error up to 2⁻⁹ per
	// factor): the logits drift from float32's by far more than the
	// 1e-4 the float32 mode holds to. The router and attention's
	// score and value products, small and decisive for which experts and
	// positions count, stay in float32.
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

// exec is how the products of a pass run: on how many workers (<= 0:
// GOMAXPROCS) and in which arithmetic.
type exec struct {
	workers int
	arith   Arithmetic
}
