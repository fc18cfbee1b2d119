// Package inspect explains a Mixture-of-Experts checkpoint: where its
// parameters are (embeddings, attention, norms, router, experts, output
// head), how many a token actually uses, why "8 × 7B" is not 56B, whether
// the files agree with the config, and how much memory it needs to run
// under llama.cpp at various quantization levels, on various GPUs.
//
// Inspect reads only headers and metadata: a 93 GB checkpoint is inspected
// without reading its weights. The result is a Report, which renders as a
// text table (WriteText) or as JSON with the stable schema documented in
// SCHEMA.md.
//
// All byte figures in the text use decimal units (1 GB = 10^9 bytes), and
// GPU capacities are taken as their nominal size in those units.
package inspect
