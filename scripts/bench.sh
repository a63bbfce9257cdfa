#!/usr/bin/env bash
# Runs every benchmark in test/bench, each printing its peer comparison and a headline line.
set -euo pipefail
cd "$(dirname "$0")/.."
# peers and load generators the benchmarks compare against (not needed by `make test`)
for tool in podman wrk skopeo umoci; do
  command -v "$tool" >/dev/null || { echo "bench: installing $tool"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null; }
done
for f in test/bench/*.bench.ts; do
  echo "== $f"
  node_modules/.bin/bun "$f"
done
