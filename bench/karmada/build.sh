#!/usr/bin/env bash
# Builds Karmada's control-plane binaries from the Go module proxy into a cache outside the
# repo, and prints the directory that holds them (one line). Skips the build when a finished
# one is there (marked by a stamp file, so an interrupted build is redone, never used).
#
# Karmada's go.mod has no replace directives, but `go install pkg@version` still fails here:
# it asks the proxy for the module's version list (to check deprecations), which the proxy
# refuses (403). So, as scripts/k8s-binaries.sh does for Kubernetes, a wrapper module builds
# it: Karmada's own go.mod and go.sum under another module name, plus a require of Karmada
# itself, so every dependency is at exactly the version Karmada pins. GOTOOLCHAIN=local
# keeps the machine's Go (1.26; Karmada asks for >= 1.25).
# Karmada's CRDs are read at run time from the same module, in the module cache
# (`go mod download -json` prints its Dir); see karmada.ts.
set -euo pipefail

KARMADA_VERSION=${KARMADA_VERSION:-v1.18.2} # newest release the module proxy serves here (v1.19.x: 403)
# The components a Push-mode Karmada needs: Cluster objects are served by the aggregated
# API server (there is no Cluster CRD); the webhook defaults and validates policies.
COMPONENTS=(controller-manager scheduler aggregated-apiserver webhook)

log() { echo "[karmada-build] $*" >&2; }

CACHE=${MERIDIAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meridian}
OUT="$CACHE/karmada/$KARMADA_VERSION"
STAMP="$OUT/.complete"
export GOTOOLCHAIN=local CGO_ENABLED=0
unset GOFLAGS

has_all() {
  local c
  for c in "${COMPONENTS[@]}"; do [[ -x "$OUT/karmada-$c" ]] || return 1; done
}
if [[ -f "$STAMP" ]] && has_all; then echo "$OUT"; exit 0; fi

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/meridian-karmada-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SRC=$(go mod download -json "github.com/karmada-io/karmada@$KARMADA_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[[ -d "$SRC" ]] || { log "could not download github.com/karmada-io/karmada@$KARMADA_VERSION"; exit 1; }
{
  sed 's|^module .*|module meridian.dev/build/karmada|' "$SRC/go.mod"
  echo "require github.com/karmada-io/karmada $KARMADA_VERSION"
} >"$WORK/go.mod"
cp "$SRC/go.sum" "$WORK/go.sum"
chmod u+w "$WORK/go.sum"
ldflags="-s -w -X github.com/karmada-io/karmada/pkg/version.gitVersion=$KARMADA_VERSION"
ldflags="$ldflags -X github.com/karmada-io/karmada/pkg/version.gitTreeState=clean"
start=$(date +%s)
log "building Karmada $KARMADA_VERSION (${COMPONENTS[*]}) into $OUT"
for c in "${COMPONENTS[@]}"; do
  t0=$(date +%s)
  (cd "$WORK" && nice -n 19 go build -mod=mod -trimpath -ldflags "$ldflags" \
    -o "$OUT/karmada-$c" "github.com/karmada-io/karmada/cmd/$c")
  log "karmada-$c built in $(($(date +%s) - t0))s"
done
touch "$STAMP"
log "all built in $(($(date +%s) - start))s"
echo "$OUT"
