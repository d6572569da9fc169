#!/usr/bin/env bash
# Benchmark: build time of the pinned Kubernetes binaries.
#   cold  — empty Go module cache, Go build cache and Meridian cache (everything downloaded and compiled)
#   relink — warm Go caches, Meridian's binary cache removed (what a version bump of one binary costs at most)
#   warm  — everything cached (what every `npm test` after the first pays)
# Usage: bash bench/binaries.sh   (takes ~10 minutes on 2 cores; prints one JSON line)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
time_ms() { local t0; t0=$(date +%s%N); "$@" >/dev/null 2>&1; echo $((($(date +%s%N) - t0) / 1000000)); }
cold=$(time_ms env GOMODCACHE="$tmp/gomod" GOCACHE="$tmp/gocache" MERIDIAN_CACHE_DIR="$tmp/meridian" bash scripts/k8s-binaries.sh)
rm -rf "$tmp/meridian/k8s"
relink=$(time_ms env GOMODCACHE="$tmp/gomod" GOCACHE="$tmp/gocache" MERIDIAN_CACHE_DIR="$tmp/meridian" bash scripts/k8s-binaries.sh)
warm=$(time_ms env GOMODCACHE="$tmp/gomod" GOCACHE="$tmp/gocache" MERIDIAN_CACHE_DIR="$tmp/meridian" bash scripts/k8s-binaries.sh)
printf '{"date":"%s","coldMs":%d,"relinkMs":%d,"warmMs":%d}\n' "$(date -u +%FT%TZ)" "$cold" "$relink" "$warm"
