#!/usr/bin/env bash
# Builds Envoy Gateway's egctl (the peer of `strait translate` in bench/egctl.ts) from its
# Go module, pinned in the wrapper module tools/go/egctl, into
# ${STRAIT_CACHE_DIR:-~/.cache/strait}/egctl-<version>/egctl. Rebuilt only when the wrapper
# module changed (a stamp holds its hash); the first build takes 10-20 minutes on 2 cores.
#
# Usage: scripts/build-egctl.sh [--print]   (--print: the binary's path on stdout)
set -euo pipefail
cd "$(dirname "$0")/../tools/go/egctl"

export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

if ! command -v go >/dev/null 2>&1; then
  echo "build-egctl: the go command is not installed (Go >= 1.26 is needed)" >&2
  exit 1
fi
version=$(awk '$1 == "github.com/envoyproxy/gateway" { print $2; exit }' go.mod)
out="${STRAIT_CACHE_DIR:-$HOME/.cache/strait}/egctl-$version"
want=$({ cat go.mod go.sum; go env GOVERSION; } | sha256sum | cut -c1-16)
if [ ! -f "$out/.stamp" ] || [ "$(cat "$out/.stamp")" != "$want" ]; then
  echo "build-egctl: building egctl $version into $out" >&2
  started=$SECONDS
  stage="$out.partial.$$"
  rm -rf "$stage"
  mkdir -p "$stage"
  go build -trimpath -ldflags "-s -w" -o "$stage/egctl" github.com/envoyproxy/gateway/cmd/egctl >&2
  "$stage/egctl" version --remote=false >/dev/null 2>&1 || "$stage/egctl" --help >/dev/null
  echo "$want" >"$stage/.stamp"
  rm -rf "$out"
  mv "$stage" "$out"
  echo "build-egctl: built in $((SECONDS - started)) s" >&2
fi
[ "${1:-}" = "--print" ] && echo "$out/egctl"
exit 0
