// Package convert streams a checkpoint through the quantization kernels into
// a new file: Hugging Face safetensors or GGUF in, GGUF out. It lays out the
// whole output before any tensor data is read, then quantizes row chunks on
// every core and writes each chunk at its final offset, so memory is bounded
// by the chunks in flight and the bytes never depend on scheduling.
package convert
