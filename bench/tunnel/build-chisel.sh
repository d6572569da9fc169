#!/usr/bin/env bash
# Builds chisel (github.com/jpillora/chisel), pinned, from the Go module proxy into a cache
# outside the repo, and prints the binary's path (one line). Skips the build when it is there.
# `go install …@version` is not used: it asks the proxy for the module's version list, which
# the proxy here refuses; building inside the downloaded module uses chisel's own go.sum.
set -euo pipefail
CHISEL_VERSION=${CHISEL_VERSION:-v1.11.3}
CACHE=${MERIDIAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/meridian}
OUT="$CACHE/chisel/$CHISEL_VERSION/chisel"
if [[ -x "$OUT" ]]; then echo "$OUT"; exit 0; fi
export GOTOOLCHAIN=local CGO_ENABLED=0
unset GOFLAGS
SRC=$(go mod download -json "github.com/jpillora/chisel@$CHISEL_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[[ -d "$SRC" ]] || { echo "could not download github.com/jpillora/chisel@$CHISEL_VERSION" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
(cd "$SRC" && go build -trimpath -ldflags "-s -w -X github.com/jpillora/chisel/share.BuildVersion=$CHISEL_VERSION" -o "$OUT.tmp" .)
mv "$OUT.tmp" "$OUT"
echo "$OUT"
