#!/bin/sh
# Compares the size planner with llama-quantize's presets on tiny-mixtral:
# for each preset, mxq's own file of that type, then a planned file of at
# most the same size, both validated end to end against the checkpoint on
# tokens used neither for the role sensitivities nor for calibration: the
# reference prompt of testdata/tiny-mixtral-reference.json.gz followed by
# 482 seeded random ids. A preset written PRESET+imatrix is made, and the
# planned file planned, with llama-imatrix's matrix of the model (calibrated
# on other tokens, testdata/tiny-mixtral-imatrix/ids.txt).
# Usage: scripts/planner-proof.sh [PRESET[+imatrix]...] (from the repository root)
set -eu
T=testdata/tiny-mixtral
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/mxq" ./cmd/mxq
M=$dir/mxq
python3 - "$dir/ids.json" <<'PY'
import gzip, json, random, sys
ids = json.load(gzip.open("testdata/tiny-mixtral-reference.json.gz"))["input_ids"]
rng = random.Random(20261207)
ids += [rng.randrange(3, 1024) for _ in range(512 - len(ids))]
json.dump(ids, open(sys.argv[1], "w"))
PY
[ $# -gt 0 ] || set -- Q4_K_M Q3_K_M Q3_K_S Q2_K IQ3_XXS+imatrix IQ2_XS+imatrix
I=testdata/tiny-mixtral-imatrix/tiny-mixtral.imatrix.gguf
printf '| budget (preset) | file | bytes | bpw | KL mean | KL p99 | top-1 | routing same top-k (L0 / L1) |\n|---|---|---|---|---|---|---|---|\n'
row() { # label file
	$M validate $T "$2" --tokens "$dir/ids.json" --json -q >"$dir/v.json"
	python3 - "$dir/v.json" "$1" "$2" "$3" <<'PY'
import json, os, sys
v = json.load(open(sys.argv[1]))
k = v["logits"]["kld"]
r = " / ".join(f"{l['agreement']:.2%}" for l in v["routing"])
size = os.path.getsize(sys.argv[3])
print(f"| {sys.argv[2]} | {sys.argv[4]} | {size:,} | {v['candidate'].get('bits_per_weight', 0):.3f} | {k['mean']:.5f} | {k['p99']:.4f} | {v['logits']['top1_agreement']:.2%} | {r} |")
PY
}
for arg in "$@"; do
	preset=${arg%+imatrix}
	imatrix=
	[ "$preset" = "$arg" ] || imatrix="--imatrix $I"
	# $imatrix is split into flag and path on purpose (neither has spaces).
	$M quantize $T --type "$preset" $imatrix -o "$dir/$arg.gguf" -q >/dev/null
	size=$(wc -c <"$dir/$arg.gguf")
	row "$arg" "$dir/$arg.gguf" "$preset preset"
	$M quantize $T --target-size "$size" $imatrix -o "$dir/plan-$arg.gguf" -q >/dev/null
	row "$arg" "$dir/plan-$arg.gguf" "planned"
done
