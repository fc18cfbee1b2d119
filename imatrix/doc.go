// Package imatrix holds importance matrices in llama.cpp's formats: per
// weight matrix of a model, the sum over calibration tokens of the squared
// input of each column (in_sum2) and the number of tokens (counts), kept
// per expert for the merged expert tensors of a Mixture-of-Experts model.
//
// Read accepts llama-imatrix's current GGUF files (general.type "imatrix")
// and its legacy .dat files, telling them apart by content. EncodeGGUF and
// EncodeDat (WriteGGUF and WriteDat for a new file) write them byte for
// byte as llama-imatrix does. Weights derives
// the per-column weights llama-quantize hands to ggml's quantizers, with
// llama-quantize's rules, and CheckModel and QuantizeMetadata give the
// quantizer the checks and metadata llama-quantize applies. A Collector
// accumulates a matrix from the Go forward pass (package forward) the way
// llama-imatrix collects one from llama.cpp's compute graph; Compute runs a
// model over calibration tokens layer by layer to fill one.
package imatrix
