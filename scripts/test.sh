#!/usr/bin/env bash
# Runs every test with bun's runner and prints one summary line: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test/artifacts
out=test/artifacts/test-output.txt
node_modules/.bin/bun test --timeout 120000 "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
pass=$(grep -Eo '^ *[0-9]+ pass$' "$out" | tail -1 | grep -Eo '[0-9]+' || echo 0)
fail=$(grep -Eo '^ *[0-9]+ fail$' "$out" | tail -1 | grep -Eo '[0-9]+' || echo 0)
skip=$(grep -Eo '^ *[0-9]+ skip$' "$out" | tail -1 | grep -Eo '[0-9]+' || echo 0)
line="$pass passed, $fail failed"
[ "$skip" != 0 ] && line="$line, $skip skipped"
echo "$line"
if [ "$rc" != 0 ] || [ "$fail" != 0 ] || [ "$pass" = 0 ]; then exit 1; fi
