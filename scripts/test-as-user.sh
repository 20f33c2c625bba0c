#!/usr/bin/env bash
# Runs the test suite as a normal user (default `nobody`), as root would never
# see it: on a copy of the tree that user can write, with node_modules linked
# package by package (vite writes its temp files into node_modules) and the Go
# fixtures copied where the user can read them. The kernel tests skip with
# their reason; everything else must pass.
#
#   scripts/test-as-user.sh [USER] [vitest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
user=${1:-nobody}
shift || true
[ "$(id -u)" -eq 0 ] || { echo "test-as-user: run as root (it switches to $user)" >&2; exit 2; }
work=$(mktemp -d /tmp/strait-as-user.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/node_modules" "$work/home" "$work/cache"
tar --exclude=./node_modules --exclude=./.cache -cf - . | tar -xf - -C "$work/tree"
for entry in "$repo"/node_modules/* "$repo"/node_modules/.bin; do ln -s "$entry" "$work/tree/node_modules/"; done
fixtures="${STRAIT_CACHE_DIR:-$HOME/.cache/strait}"
for d in fixtures spire; do [ -d "$fixtures/$d" ] && cp -a "$fixtures/$d" "$work/cache/"; done
chown -R "$user" "$work"
cd "$work/tree"
# node_modules/.bin first, as npm scripts put it: its `node` is the pinned Node 24.
runuser -u "$user" -- env HOME="$work/home" STRAIT_CACHE_DIR="$work/cache" PATH="$work/tree/node_modules/.bin:$PATH" \
  node_modules/.bin/vitest run "$@"
