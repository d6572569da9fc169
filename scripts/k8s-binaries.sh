#!/usr/bin/env bash
# Builds the pinned Kubernetes control-plane binaries, kubectl, kwok and etcd from the
# Go module proxy into a cache outside the repo, and prints (as one JSON line) the
# directory that holds them and the directory of kwok's stage definitions.
#
# Reuse instead of building: if MERIDIAN_K8S_ASSETS or KUBEBUILDER_ASSETS names a directory
# that already has every binary, that directory is printed and nothing is built.
# A finished build is marked by a stamp file, so an interrupted build is redone, never used.
set -euo pipefail

K8S_VERSION=v1.37.2   # newest release whose go.mod accepts the machine's Go 1.26 under GOTOOLCHAIN=local
KWOK_VERSION=v0.8.0   # built against k8s.io/api v0.36; speaks to 1.37 API servers
ETCD_VERSION=v3.6.16  # the etcd 3.6 line Kubernetes 1.37 is tested against
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl kwok etcd)

log() { echo "[k8s-binaries] $*" >&2; }

has_all() {
  local dir=$1 b
  for b in "${BINARIES[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

CACHE=${MERIDIAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meridian}
OUT="$CACHE/k8s/k8s-$K8S_VERSION.kwok-$KWOK_VERSION.etcd-$ETCD_VERSION"
STAMP="$OUT/.complete"
STAGES="$CACHE/k8s/kwok-stages-$KWOK_VERSION"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# kwok needs Stage objects to move nodes and pods through their lifecycle; use the ones
# kwok itself ships (node: initialize + lease heartbeat; pod: ready, complete, delete).
ensure_kwok_stages() {
  [[ -f "$STAGES/.complete" ]] && return 0
  local src
  src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$STAGES"
  cp "$src"/kustomize/stage/node/fast/node-initialize.yaml \
    "$src"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    "$src"/kustomize/stage/pod/fast/pod-ready.yaml \
    "$src"/kustomize/stage/pod/fast/pod-complete.yaml \
    "$src"/kustomize/stage/pod/fast/pod-delete.yaml "$STAGES/"
  chmod 0644 "$STAGES"/*.yaml
  touch "$STAGES/.complete"
}

# The one line of output: where the binaries and kwok's stages are, as JSON.
report() { printf '{"assets":"%s","kwokStages":"%s"}\n' "$1" "$STAGES"; }

ensure_kwok_stages
for var in MERIDIAN_K8S_ASSETS KUBEBUILDER_ASSETS; do
  dir=${!var:-}
  if [[ -n "$dir" ]]; then
    if has_all "$dir"; then report "$dir"; exit 0; fi
    log "$var=$dir lacks some of: ${BINARIES[*]}; building instead"
  fi
done
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/meridian-k8s-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LDFLAGS_BASE="-s -w"
start=$(date +%s)

# Kubernetes: k8s.io/kubernetes replaces its staging modules with local paths, which a
# dependent cannot see, so this wrapper module points each at its published version.
build_kubernetes() {
  local dir="$WORK/kubernetes" minor staging
  mkdir -p "$dir"
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  staging="v0.${K8S_VERSION#v1.}"
  {
    echo "module meridian.dev/build/kubernetes"
    echo "go 1.26.0"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    sed -n '/^replace (/,/^)/p' "$gomod" | awk '/=> \.\/staging/{print $1}' | grep -v '^k8s.io/sample-' |
      while read -r m; do echo "replace $m => $m $staging"; done
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$dir" && go mod tidy)
  local v="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  v="$v -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  v="$v -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$dir" && go build -trimpath -ldflags "$LDFLAGS_BASE $v" -o "$OUT/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

build_kwok() {
  local dir="$WORK/kwok"
  mkdir -p "$dir"
  printf 'module meridian.dev/build/kwok\ngo 1.26.0\nrequire sigs.k8s.io/kwok %s\n' "$KWOK_VERSION" >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags "$LDFLAGS_BASE -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" -o "$OUT/kwok" sigs.k8s.io/kwok/cmd/kwok)
}

# etcd's own main module has path replaces; a tiny main over its embed package does not.
build_etcd() {
  local dir="$WORK/etcd"
  mkdir -p "$dir"
  printf 'module meridian.dev/build/etcd\ngo 1.26.0\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$dir/go.mod"
  cp "$(dirname "$0")/etcd-main.go" "$dir/main.go"
  (cd "$dir" && go mod tidy && go build -trimpath -ldflags "$LDFLAGS_BASE" -o "$OUT/etcd" .)
}

if [[ -f "$STAMP" ]] && has_all "$OUT"; then report "$OUT"; exit 0; fi

log "building into $OUT (kubernetes $K8S_VERSION, kwok $KWOK_VERSION, etcd $ETCD_VERSION)"
for step in etcd kwok kubernetes; do
  t0=$(date +%s)
  "build_$step"
  log "$step built in $(( $(date +%s) - t0 ))s"
done
touch "$STAMP"
log "all binaries built in $(( $(date +%s) - start ))s"
report "$OUT"
