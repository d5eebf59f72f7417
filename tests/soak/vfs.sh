#!/usr/bin/env bash
# Power loss and I/O errors (tests/fault/powerloss_test.cc) with more power
# cuts per crash point than the test suite makes: seeds 0-3 are drop-all,
# keep-all, some shuffled and some torn; each further seed is another
# seeded choice of the same four modes in turn.
# Usage: tests/soak/vfs.sh [seeds]      default 32 (the suite uses 4)
# Builds the test first in $POSTA_BUILD_DIR (default build/test, as
# scripts/test.sh configures it). Prints each sweep's figures; the full log
# is kept in $build/artifacts/soak/vfs.log. Exit status 0 when every sweep
# held.
set -euo pipefail
cd "$(dirname "$0")/../.."

seeds=${1:-32}
build=${POSTA_BUILD_DIR:-build/test}
if [[ ! -f $build/CMakeCache.txt ]]; then
  echo "vfs: no build in $build; run ./scripts/test.sh -R powerloss once" >&2
  exit 2
fi
cmake --build "$build" --target powerloss_test -j "${POSTA_JOBS:-2}" >/dev/null
mkdir -p "$build/artifacts/soak"
log=$build/artifacts/soak/vfs.log
start=$(date +%s)
status=0
POSTA_VFS_SEEDS=$seeds "$build/tests/fault/powerloss_test" >"$log" 2>&1 ||
  status=$?
grep -E '^\[vfs\]' "$log" || true
grep -E '^\[  (PASSED|FAILED) ' "$log" || true
echo "vfs: $seeds seeds per crash point, $(($(date +%s) - start)) s, log $log"
exit "$status"
