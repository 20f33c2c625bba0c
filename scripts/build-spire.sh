#!/usr/bin/env bash
# Builds spire-server and spire-agent (the versions pinned in tools/go/spire/go.mod)
# into a cache outside the clone, and prints the directory holding them. Idempotent:
# a second run with the same go.mod/go.sum and Go version does nothing.
#   ${STRAIT_CACHE_DIR:-$HOME/.cache/strait}/spire/<stamp>/bin/{spire-server,spire-agent}
# Also prints nothing else on stdout, so callers can use $(scripts/build-spire.sh).
set -euo pipefail
cd "$(dirname "$0")/../tools/go/spire"
export GOTOOLCHAIN=local
export GOFLAGS=-mod=readonly
cache="${STRAIT_CACHE_DIR:-$HOME/.cache/strait}"
stamp=$( (cat go.mod go.sum; go version) | sha256sum | cut -c1-16)
out="$cache/spire/$stamp"
if [ -x "$out/bin/spire-server" ] && [ -x "$out/bin/spire-agent" ]; then
  echo "$out/bin"
  exit 0
fi
mkdir -p "$out/bin.tmp"
for cmd in spire-server spire-agent; do
  echo "build-spire: go build $cmd" >&2
  go build -trimpath -o "$out/bin.tmp/$cmd" "github.com/spiffe/spire/cmd/$cmd"
done
rm -rf "$out/bin"
mv "$out/bin.tmp" "$out/bin"
echo "$out/bin"
