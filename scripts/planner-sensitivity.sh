#!/bin/sh
# Measures the per-role sensitivity of the size planner (budget/roles.go) on
# tiny-mixtral: every tensor Q8_0 but one role in TYPE (default Q2_K), KL
# divergence against the checkpoint on validate's built-in paragraph, per
# unit of Σ rel² × elements of that role, relative to ffn_up_exps.
# Usage: scripts/planner-sensitivity.sh [TYPE] (from the repository root)
set -eu
TYPE=${1:-Q2_K}
T=testdata/tiny-mixtral
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/mxq" ./cmd/mxq
M=$dir/mxq
$M quantize $T --type Q8_0 -o "$dir/base.gguf" -q --json >"$dir/base.json"
$M validate $T "$dir/base.gguf" --json -q >"$dir/base.val.json"
for role in token_embd output attn_q attn_k attn_v attn_output ffn_gate_exps ffn_down_exps ffn_up_exps; do
	case $role in
	output) re='^output\.weight$' ;;
	token_embd) re='^token_embd' ;;
	*) re="\\.${role}\\." ;;
	esac
	$M quantize $T --type Q8_0 --tensor-type "$re=$TYPE" -o "$dir/$role.gguf" -q --json >"$dir/$role.json"
	$M validate $T "$dir/$role.gguf" --json -q >"$dir/$role.val.json"
done
python3 - "$dir" "$TYPE" <<'PY'
import json, sys
d, typ = sys.argv[1], sys.argv[2]
load = lambda n: json.load(open(f"{d}/{n}"))
base = load("base.val.json")["logits"]["kld"]["mean"]
brel = {t["name"]: t["metrics"]["rel_frobenius"] ** 2 * t["params"] for t in load("base.json")["tensors"]}
res = {}
for role in "token_embd output attn_q attn_k attn_v attn_output ffn_gate_exps ffn_down_exps ffn_up_exps".split():
    dk = load(f"{role}.val.json")["logits"]["kld"]["mean"] - base
    s = sum(t["metrics"]["rel_frobenius"] ** 2 * t["params"] - brel[t["name"]]
            for t in load(f"{role}.json")["tensors"] if t["type"] == typ)
    res[role] = (dk, s)
ref = res["ffn_up_exps"][0] / res["ffn_up_exps"][1]
for k, (dk, s) in res.items():
    print(f"{k:14s} dKL {dk:.6f}  sum rel2*n {s:10.1f}  sensitivity {dk / s / ref:.2f}")
PY
