// Package convert streams a checkpoint through the quantization kernels into
// a new file: Hugging Face safetensors or GGUF in, GGUF (PlanGGUF) or a
// Hugging Face safetensors folder (PlanSafetensors: bf16/fp16, or the
// compressed-tensors, GPTQ and MLX integer layouts) out. It lays out the
// whole output before any tensor data is read, then quantizes row chunks on
// every core and writes each chunk at its final offset, so memory is bounded
// by the chunks in flight (for the integer layouts, by the weights in
// flight) and the bytes never depend on scheduling.
package convert
