#!/usr/bin/env bash
# Prints mxq's throughput and memory figures on this machine:
#   1. every quantization kernel on a Mixtral-width 14336×4096 matrix, 1 core and all cores;
#   2. the whole GGUF pipeline (read BF16, quantize Q4_K_M, validate every tensor) on a
#      synthetic full-width Mixtral layer, into a discarding sink, with peak RSS;
#   3. the same pipeline over the full-size 93 GB Mixtral-8x7B layout as sparse files
#      (bounded memory whatever the model size);
#   4. Go's own benchmarks for the kernels (MB/s of float32 input, allocations).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/mxq ./cmd/mxq
echo "== kernels"; bin/mxq bench kernels
echo; echo "== pipeline, one full-width layer"; bin/mxq bench quantize --type Q4_K_M
echo; echo "== pipeline, full-size layout as sparse files"; bin/mxq bench quantize --full-size-sparse --type Q4_K_M
echo; echo "== go test -bench"
go test ./quant/... -run '^$' -bench . -benchmem
