#!/usr/bin/env bash
# `make run`: the quickstart on one machine. Starts the example's echo
# backends on their loopback addresses, then strait in standalone mode on the
# example folder (with its managed Envoy). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-examples/quickstart}
node_modules/.bin/node examples/quickstart/echo-backends.ts "$dir" &
backends=$!
trap 'kill "$backends" 2>/dev/null || true; wait "$backends" 2>/dev/null || true' EXIT
./bin/strait run -f "$dir"
