// Package forward is a reference forward pass for Mixtral-style decoder
// models (and dense Llama/Mistral ones), in plain Go. It exists so that mxq
// can compare a quantized model against the original: the arithmetic follows
// Hugging Face transformers' float32 implementation closely enough that its
// logits agree with transformers' to about 1e-5.
//
// Weights arrive through a Source one decoder layer at a time, so memory is
// bounded by the embeddings, the output head and a single layer. Matrix
// products split output rows across goroutines; every output element is
// computed by exactly one goroutine in a fixed order, so results do not
// depend on the number of workers.
package forward
