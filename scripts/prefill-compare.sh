#!/usr/bin/env bash
# Prefill throughput of mxq's forward pass next to llama.cpp's (node-llama-cpp's
# prebuilt CPU build) on the same one-layer full-width Mixtral GGUF, Q4_K_M and BF16:
# a synthetic layer (hidden 4096, 8 experts of 14336, vocabulary 1024 with
# tiny-mixtral's tokenizer) written by mxq, the same prompt of seeded random ids,
# the same number of threads; mxq in both of its arithmetics (float32 and bf16).
# Both compute every token's logits; llama.cpp is also timed with the last
# token's only (a chat prompt), where it skips the last layer's MoE for the
# other tokens: nearly all of this one-layer file's work, so not the same work.
# Then `mxq imatrix` on the BF16 file, in both.
#
# usage: scripts/prefill-compare.sh [WORKDIR] [TOKENS] [THREADS]
# WORKDIR keeps the model files between runs (default /tmp/mxq-prefill, about 7 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/mxq-prefill}
tokens=${2:-512}
threads=${3:-2}
mkdir -p "$work" bin
go build -o bin/mxq ./cmd/mxq
go build -o bin/prefillbench ./scripts/prefillbench
(cd compat/llamacpp && [ -d node_modules ] || npm ci --omit=optional --no-audit --no-fund --loglevel=error >/dev/null)

[ -f "$work/layer/config.json" ] || bin/prefillbench write "$work/layer"
for t in Q4_K_M BF16; do
	[ -f "$work/layer-$t.gguf" ] || bin/mxq quantize "$work/layer" --type "$t" -o "$work/layer-$t.gguf" --quiet >/dev/null
done

echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for t in Q4_K_M BF16; do
	(cd compat/llamacpp && node prefill.mjs "$work/layer-$t.gguf" "$tokens" "$threads" 3)
	for a in float32 bf16; do
		bin/prefillbench run -tokens "$tokens" -threads "$threads" -runs 2 -arithmetic "$a" "$work/layer-$t.gguf"
	done
done

# mxq imatrix: 256 tokens in chunks of 128, timed with peak RSS.
# Its ids and output go to a scratch folder, so WORKDIR may be shared read-only.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
ids="$scratch/ids.txt"
awk 'BEGIN { s = 12345; for (i = 0; i < 256; i++) { s = (s * 1664525 + 1013904223) % 4294967296; printf "%d ", 3 + int(s / 256) % 1021 } }' > "$ids"
for a in float32 bf16; do
	/usr/bin/time -f "mxq imatrix --arithmetic $a: %e s wall, %U+%S s CPU, peak RSS %M kB" \
		bin/mxq imatrix "$work/layer-BF16.gguf" --tokens "$ids" --chunk-size 128 -t "$threads" --arithmetic "$a" -o "$scratch/layer.imatrix.gguf" --force --json >/dev/null
done
echo "(256 tokens: tokens/s = 256 / wall seconds)"
