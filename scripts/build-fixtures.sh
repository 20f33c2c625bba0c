#!/usr/bin/env bash
# Builds the Go fixtures the real-control-plane tests and `make conformance-official`
# run, from the wrapper modules under tools/go/ (pinned versions, go.sum-checked),
# into a cache outside the clone:
#
#   ${STRAIT_CACHE_DIR:-$HOME/.cache/strait}/fixtures/<name>-<version>/
#     etcd-v3.6.x/etcd
#     kube-v1.36.x/kube-apiserver, kube-controller-manager
#     helm-v3.x/helm
#     gateway-api-v1.6.x/echo-basic, conformance.test
#
# A fixture is rebuilt only when its wrapper module's go.mod/go.sum or its recipe
# changed (a stamp file holds their hash), so a second run takes a second or two.
# Concurrent runs (two clones, CI and a developer) serialize on a lock in the cache.
#
# Usage: scripts/build-fixtures.sh [--print] [NAME...]   (NAME: etcd kube helm gateway-api;
#        default all). --print writes one `name=dir` line per fixture on stdout (all
#        build chatter goes to stderr), which test/support/fixtures.ts reads.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

print=0
names=()
for arg in "$@"; do
  case "$arg" in
    --print) print=1 ;;
    etcd | kube | helm | gateway-api) names+=("$arg") ;;
    *)
      echo "build-fixtures: unknown argument '$arg' (expected --print, etcd, kube, helm, gateway-api)" >&2
      exit 2
      ;;
  esac
done
[ "${#names[@]}" -gt 0 ] || names=(etcd kube helm gateway-api)

if ! command -v go >/dev/null 2>&1; then
  echo "build-fixtures: the go command is not installed (Go >= 1.26 is needed)" >&2
  exit 1
fi

cache="${STRAIT_CACHE_DIR:-$HOME/.cache/strait}/fixtures"
mkdir -p "$cache"

# The version a wrapper module pins for MODULE (its require line in go.mod).
module_version() {
  local dir=$1 module=$2
  awk -v m="$module" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' \
    "$root/tools/go/$dir/go.mod"
}

# The hash of what a fixture is built from: the wrapper module and the recipe.
inputs_hash() {
  local dir=$1 recipe=$2
  { cat "$root/tools/go/$dir/go.mod" "$root/tools/go/$dir/go.sum"; \
    [ -f "$root/tools/go/$dir/conformance_test.go" ] && cat "$root/tools/go/$dir/conformance_test.go"; \
    echo "$recipe"; go env GOVERSION; } | sha256sum | cut -c1-16
}

log() { echo "build-fixtures: $*" >&2; }

# build NAME DIR VERSION RECIPE -- runs recipe_NAME in a staging folder and moves
# it into place when every binary built.
build() {
  local name=$1 dir=$2 version=$3 recipe=$4
  local out="$cache/$name-$version"
  local want
  want=$(inputs_hash "$dir" "$recipe")
  if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$want" ]; then
    [ "$print" = 1 ] && echo "$name=$out"
    return 0
  fi
  log "building $name $version into $out (first build of this version takes minutes)"
  local started=$SECONDS
  local stage="$out.partial.$$"
  rm -rf "$stage"
  mkdir -p "$stage"
  (cd "$root/tools/go/$dir" && "recipe_${name//-/_}" "$stage" "$version") >&2
  echo "$want" >"$stage/.stamp"
  rm -rf "$out"
  mv "$stage" "$out"
  log "built $name $version in $((SECONDS - started)) s"
  [ "$print" = 1 ] && echo "$name=$out"
  return 0
}

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

recipe_etcd() {
  local stage=$1 version=$2
  go build -trimpath -o "$stage/etcd" go.etcd.io/etcd/server/v3
  "$stage/etcd" --version >/dev/null
}

# kube-apiserver and kube-controller-manager report their version through
# k8s.io/component-base/version (and client-go's copy), set here as
# hack/lib/version.sh does: the module zip carries no git metadata, so the tree
# state is "archive" and the commit is left empty.
kube_ldflags() {
  local version=$1 flags="-s -w" pkg
  local minor=${version#v1.}
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$build_date"
  done
  echo "$flags"
}
recipe_kube() {
  local stage=$1 version=$2
  go build -trimpath -ldflags "$(kube_ldflags "$version")" -o "$stage/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  "$stage/kube-apiserver" --version | grep -qx "Kubernetes $version"
}

recipe_helm() {
  local stage=$1 version=$2
  local kube
  kube=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' go.mod)
  local kminor=${kube#v0.}
  kminor=${kminor%%.*}
  local flags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
  flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=archive"
  flags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor"
  flags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor"
  go build -trimpath -ldflags "$flags" -o "$stage/helm" helm.sh/helm/v3/cmd/helm
  "$stage/helm" version --short | grep -q "^$version"
}

recipe_gateway_api() {
  local stage=$1
  go build -trimpath -ldflags "-s -w" -o "$stage/echo-basic" sigs.k8s.io/gateway-api/conformance/echo-basic
  go test -c -trimpath -ldflags "-s -w" -o "$stage/conformance.test" .
}

exec 9>"$cache/.lock"
flock 9

for name in "${names[@]}"; do
  case "$name" in
    etcd) build etcd etcd "$(module_version etcd go.etcd.io/etcd/server/v3)" "etcd-1" ;;
    kube) build kube kube "$(module_version kube k8s.io/kubernetes)" "kube-1" ;;
    helm) build helm helm "$(module_version helm helm.sh/helm/v3)" "helm-1" ;;
    gateway-api)
      build gateway-api gateway-api "$(module_version gateway-api sigs.k8s.io/gateway-api/conformance)" "gateway-api-1"
      ;;
  esac
done
