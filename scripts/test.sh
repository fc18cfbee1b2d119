#!/usr/bin/env bash
# The whole test suite: static checks, Go tests, and the llama.cpp
# compatibility test (skipped with a banner when Node.js is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test ./...
scripts/compat.sh
