#!/usr/bin/env bash
# Runs the llama.cpp compatibility test (compat/llamacpp/run.sh) when Node.js
# is installed. Without it the test is skipped with a banner that cannot be
# missed, so the rest of the suite still gives its results; set
# MXQ_REQUIRE_COMPAT=1 (CI does) to make a missing Node.js a failure.
set -euo pipefail
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac # no dirname: PATH may be bare
here=$(cd "$here" && pwd)
run=${MXQ_COMPAT_RUN:-$here/../compat/llamacpp/run.sh}
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	exec "$run"
fi
if [ "${MXQ_REQUIRE_COMPAT:-}" = 1 ]; then
	echo "FAILED: llama.cpp compatibility test: Node.js (node and npm) not found, and MXQ_REQUIRE_COMPAT=1" >&2
	exit 1
fi
{
	echo "=================================================================================="
	echo "SKIPPED: llama.cpp compatibility test (compat/llamacpp): Node.js (node and npm) not"
	echo "found. Install Node.js 20+ to check that llama.cpp loads mxq's GGUF files."
	echo "=================================================================================="
} >&2
