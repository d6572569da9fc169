#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it: system packages, static checks, the real
# Kubernetes binaries (built once, then cached), then every unit and end-to-end test
# against one shared real environment. Prints how long each phase took.
set -euo pipefail
cd "$(dirname "$0")/.."

phase() {
  local name=$1 t0=$SECONDS
  shift
  echo "==> $name" >&2
  "$@"
  echo "==> $name: $((SECONDS - t0))s" >&2
}

command -v go >/dev/null || { echo "Go is needed to build the Kubernetes binaries (or set MERIDIAN_K8S_ASSETS)" >&2; exit 1; }
phase "debian packages" bash scripts/ensure-debian-packages.sh
phase "typecheck" tsc --noEmit -p .
phase "typecheck ui" tsc --noEmit -p ui
# The dashboard's bundle (ui/dist), rebuilt only when ui/ changed: its browser test serves it.
phase "build ui" node ui/build.ts --if-stale
phase "lint" eslint .
phase "format" prettier --check --log-level warn .
phase "kubernetes binaries" bash scripts/k8s-binaries.sh
# Each kube-apiserver holds ~6 inotify instances and kwok's `logs -f` needs more; the
# kernel default (128 per user) runs out when suites start their own environments.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 1024)" -lt 1024 ]; then
  sysctl -qw fs.inotify.max_user_instances=1024 2>/dev/null ||
    echo "note: fs.inotify.max_user_instances is below 1024 and cannot be raised here; kwok log streaming may fail" >&2
fi
phase "tests" node --test --test-global-setup=test/global-setup.ts --test-concurrency=1 --test-timeout=600000 \
  "src/**/*.test.ts" "test/**/*.test.ts"
