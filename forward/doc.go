// Package forward is a reference forward pass for Mixtral-style decoder
// models (and dense Llama/Mistral ones), in plain Go. It exists so that mxq
// can compare a quantized model against the original: the arithmetic follows
// Hugging Face transformers' float32 implementation closely enough that its
// logits agree with transformers' to about 1e-5.
//
// Weights arrive through a Source one decoder layer at a time, so memory is
// bounded by the embeddings, the output head and a single layer; a GGUF
// source hands experts over in their stored block format (QuantMatrix).
//
// Every matrix product covers a whole batch of tokens at once (gemm.go):
// tiles of 12 tokens × 32 output rows, weight panels of 256 inputs
// decoded and packed once per product, float32 sums with fused
// multiply-adds (AVX-512 or AVX2 assembly, a portable Go kernel
// elsewhere). Each output element is summed in a fixed order that depends
// neither on the other tokens of its batch nor on the number of workers, so
// results are identical for any batch split and any worker count.
//
// Options.Arithmetic BF16 trades that agreement for speed (bf16.go): the
// products with the weight matrices take activations and weights rounded
// to bfloat16 and sum their exact products in float32 with AVX-512 BF16
// dot products (VDPBF16PS), as llama.cpp does for BF16 weights, at about
// twice the float32 kernels' rate; the logits then differ from
// transformers' by bfloat16's rounding (up to 0.03 on the tiny test
// model's logits of up to 3.9) instead of 1e-5. Results stay independent of batch
// split and worker count, and a portable Go kernel computes the same sums
// where the CPU lacks AVX512_BF16 (and with -tags purego).
package forward
