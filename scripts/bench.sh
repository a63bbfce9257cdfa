#!/usr/bin/env bash
# Runs every benchmark in test/bench, each printing its peer comparison and a headline line.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v podman >/dev/null || { echo "bench: installing podman (peer for the launch benchmark)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null; }
for f in test/bench/*.bench.ts; do
  echo "== $f"
  node_modules/.bin/bun "$f"
done
