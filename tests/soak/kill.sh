#!/usr/bin/env bash
# Soak for the kill -9 loops (docs: tests/soak/README.md, "Kill -9"): runs
#   - fault_test         `posta serve` killed during local writes,
#   - sync_fault_test    `posta sync` and the hub killed during syncs,
#   - cluster_kill_test  a clinic and a hub `posta serve` killed during
#                        writes and scheduled syncs,
# each with CYCLES cycles (default 10000), and prints each loop's figures
# line (cycles, acknowledged writes, lost, duplicated, integrity failures)
# and its wall time. Exits 1 when a loop fails.
#
# Usage: tests/soak/kill.sh [CYCLES] [SEED]
#   SEED seeds the cluster loop (default: from the clock; printed).
#   POSTA_BUILD_DIR: the build to use (default build/test, made by
#   ./scripts/test.sh); the test binaries are brought up to date first.
#   POSTA_SOAK_LOOPS: which loops, default "fault_test sync_fault_test
#   cluster_kill_test".
set -euo pipefail
cd "$(dirname "$0")/../.."

cycles=${1:-10000}
seed=${2:-$(( $(date +%s) % 1000000 ))}
build=${POSTA_BUILD_DIR:-build/test}
loops=${POSTA_SOAK_LOOPS:-fault_test sync_fault_test cluster_kill_test}

case $cycles in ''|*[!0-9]*|0) echo "kill.sh: CYCLES must be a positive number, not '$cycles'" >&2; exit 2;; esac
case $seed in ''|*[!0-9]*) echo "kill.sh: SEED must be a number, not '$seed'" >&2; exit 2;; esac
if [ ! -f "$build/build.ninja" ]; then
  echo "kill.sh: no build in $build; run ./scripts/test.sh once (or set POSTA_BUILD_DIR)" >&2
  exit 2
fi
# shellcheck disable=SC2086
cmake --build "$build" --target posta $loops >/dev/null

export POSTA_KILL_CYCLES=$cycles POSTA_SYNC_KILL_CYCLES=$cycles \
  POSTA_CLUSTER_KILL_CYCLES=$cycles POSTA_KILL_SEED=$seed
logs=$(mktemp -d "${TMPDIR:-/tmp}/posta-kill-soak.XXXXXX")
echo "kill.sh: $cycles cycles per loop, seed $seed, logs in $logs"
failed=0
for loop in $loops; do
  start=$(date +%s)
  if "$build/tests/fault/$loop" >"$logs/$loop.log" 2>&1; then
    result=passed
  else
    result=FAILED
    failed=1
  fi
  figures=$(grep -h '^kill -9 figures' "$logs/$loop.log" || echo "kill -9 figures [$loop]: none printed")
  echo "$figures ($result, $(( $(date +%s) - start )) s)"
done
[ "$failed" = 0 ] || echo "kill.sh: a loop failed; see $logs" >&2
exit "$failed"
