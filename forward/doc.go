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
package forward
