#!/usr/bin/env bash
# Prints the README's fidelity table: testdata/tiny-mixtral quantized to each
# GGUF type and safetensors layout with mxq, then compared with the original
# by `mxq validate` (a Go forward pass of both models on the same tokens).
#
#   scripts/fidelity.sh                 # the built-in prompt
#   scripts/fidelity.sh --text FILE     # any other validate input flags
#
# Needs only Go; MXQ=/path/to/mxq uses that binary instead of building one.
# Outputs go to a temporary folder that is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=testdata/tiny-mixtral
bin=${MXQ:-$work/mxq}
[ -n "${MXQ:-}" ] || go build -o "$bin" ./cmd/mxq
mxq() { "$bin" "$@"; }

rows=()
compare() { # LABEL OUTPUT
	local json="$work/report-${#rows[@]}.json"
	mxq validate "$src" "$2" --json "${validate_flags[@]}" >"$json"
	rows+=("$1=$json")
}
validate_flags=("$@")

for t in F16 Q8_0 Q6_K Q5_K_M Q4_K_M Q4_0 Q3_K_M Q2_K IQ4_NL IQ4_XS MXFP4_MOE; do
	mxq quantize "$src" -o "$work/$t.gguf" --type "$t" --quiet --json >/dev/null
	compare "GGUF $t" "$work/$t.gguf"
done

# The same types with llama-imatrix's importance matrix of the model,
# calibrated on testdata/tiny-mixtral-imatrix/ids.txt (the reference
# prompt "The router picks two of the eight experts for every token." and
# random ids), which is not the text validate compares on. Q2_K_S, IQ3_XXS
# and IQ2_XS need one.
imatrix=testdata/tiny-mixtral-imatrix/tiny-mixtral.imatrix.gguf
for t in Q4_K_M Q3_K_M Q2_K Q2_K_S IQ3_XXS IQ2_XS; do
	mxq quantize "$src" -o "$work/$t.imatrix.gguf" --type "$t" --imatrix "$imatrix" --quiet --json >/dev/null
	compare "GGUF $t + imatrix" "$work/$t.imatrix.gguf"
done

# label, then quantize flags
layouts=(
	"compressed-tensors int8 (g128)|--bits 8 --layout compressed-tensors"
	"compressed-tensors int4 (g128)|--bits 4 --layout compressed-tensors"
	"GPTQ int8 (g128)|--bits 8 --layout gptq"
	"GPTQ int4 (g128)|--bits 4 --layout gptq"
	"MLX int8 (g64)|--bits 8 --layout mlx"
	"MLX int4 (g64)|--bits 4 --layout mlx"
)
for entry in "${layouts[@]}"; do
	label=${entry%%|*}
	read -r -a flags <<<"${entry#*|}"
	out="$work/st-${#rows[@]}"
	if ! mxq quantize "$src" --format safetensors -o "$out" "${flags[@]}" --quiet --json >/dev/null 2>"$work/err"; then
		echo "skipping $label: $(head -n 1 "$work/err")" >&2
		continue
	fi
	compare "safetensors $label" "$out"
done

go run ./scripts/fidelitytable "${rows[@]}"
