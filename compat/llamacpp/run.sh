#!/usr/bin/env bash
# Converts the bundled tiny Mixtral with mxq to F32, Q8_0, Q4_K_M, IQ4_XS and MXFP4_MOE GGUF,
# loads each with llama.cpp and compares llama.cpp's next-token distributions with
# transformers' reference logits. Then converts the bundled tiny Qwen3-MoE to F32 and
# Q8_0 GGUF, checks that llama.cpp tokenizes like the reference tokenizer, and
# compares llama.cpp's distributions with mxq's own forward pass over the Hugging
# Face folder. Needs Go and Node.js; npm packages come from the registry
# (package-lock.json pins them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$here" && npm ci --omit=optional --no-audit --no-fund --loglevel=error >/dev/null)
go build -o "$work/mxq" "$root/cmd/mxq"
go build -o "$work/forwardref" "$root/scripts/forwardref"
ref="$root/testdata/tiny-mixtral-reference.json.gz"

"$work/mxq" quantize "$root/testdata/tiny-mixtral" --type F32 -o "$work/tiny-F32.gguf" --quiet >/dev/null
"$work/mxq" quantize "$root/testdata/tiny-mixtral" --bits 8 -o "$work/tiny-Q8_0.gguf" --quiet >/dev/null
"$work/mxq" quantize "$root/testdata/tiny-mixtral" --bits 4 -o "$work/tiny-Q4_K_M.gguf" --quiet >/dev/null
"$work/mxq" quantize "$root/testdata/tiny-mixtral" --type IQ4_XS -o "$work/tiny-IQ4_XS.gguf" --quiet >/dev/null
"$work/mxq" quantize "$root/testdata/tiny-mixtral" --type MXFP4_MOE -o "$work/tiny-MXFP4_MOE.gguf" --quiet >/dev/null
qwen="$root/testdata/tiny-qwen3-moe"
"$work/mxq" quantize "$qwen" --type F32 -o "$work/qwen3-F32.gguf" --quiet >/dev/null
"$work/mxq" quantize "$qwen" --bits 8 -o "$work/qwen3-Q8_0.gguf" --quiet >/dev/null

cd "$here"
# F32 must compute the same model: every log-probability within 1e-4 and the
# same top token at every position.
node compare.mjs "$work/tiny-F32.gguf" "$ref" --max-dlogp 1e-4 --top1-margin 0
# Q8_0 is lossy: bounded KL, and the same top token wherever the reference
# is not a near tie.
node compare.mjs "$work/tiny-Q8_0.gguf" "$ref" --max-kl 2e-3 --top1-margin 0.05
# Q4_K_M (K-quant blocks, llama-quantize's type mix) loads and stays close;
# the tiny model's random weights make its 4-bit KL larger than a real model's.
node compare.mjs "$work/tiny-Q4_K_M.gguf" "$ref" --max-kl 0.06
# IQ4_XS (non-linear 4-bit levels, 6-bit sub-block scales) and MXFP4_MOE (E2M1
# codes with a shared E8M0 exponent for the experts, Q8_0 elsewhere) load and
# stay as close as mxq's own validate measures them (mean KL 0.023 and 0.014).
node compare.mjs "$work/tiny-IQ4_XS.gguf" "$ref" --max-kl 0.06
node compare.mjs "$work/tiny-MXFP4_MOE.gguf" "$ref" --max-kl 0.06

# Qwen3-MoE (qwen3moe architecture, byte-level BPE vocabulary): llama.cpp
# tokenizes strings with unicode, code and numbers as @huggingface/tokenizers
# (transformers.js's tokenizer) does from tokenizer.json; on a 35-token chat prompt its distributions from
# mxq's F32 GGUF equal those of mxq's forward pass over the Hugging Face folder
# (every log-probability within 1e-4), and Q8_0 stays close.
node tokenize.mjs "$work/qwen3-F32.gguf" "$qwen" "$work/qwen3-ids.txt"
"$work/forwardref" -ids "$(cat "$work/qwen3-ids.txt")" -o "$work/qwen3-ref.json.gz" "$qwen"
node compare.mjs "$work/qwen3-F32.gguf" "$work/qwen3-ref.json.gz" --max-dlogp 1e-4 --top1-margin 0
node compare.mjs "$work/qwen3-Q8_0.gguf" "$work/qwen3-ref.json.gz" --max-kl 2e-3 --top1-margin 0.05
