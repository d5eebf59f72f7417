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
#   SEED seeds the loops (default: from the clock; printed).
#   POSTA_BUILD_DIR: the build to use (default build/test, made by
#   ./scripts/test.sh); the test binaries are brought up to date first.
#   POSTA_SOAK_LOOPS: which loops, default "fault_test sync_fault_test
#   cluster_kill_test".
#   POSTA_SOAK_SHARDS=P: runs each loop as P processes at once, shard i
#   with seed SEED+i and its share of the CYCLES (each has its own
#   temporary directory and ports); prints each shard's figures line and
#   then their sums, with the loop's wall time.
set -euo pipefail
cd "$(dirname "$0")/../.."

cycles=${1:-10000}
seed=${2:-$(( $(date +%s) % 1000000 ))}
build=${POSTA_BUILD_DIR:-build/test}
loops=${POSTA_SOAK_LOOPS:-fault_test sync_fault_test cluster_kill_test}
shards=${POSTA_SOAK_SHARDS:-1}

case $cycles in ''|*[!0-9]*|0) echo "kill.sh: CYCLES must be a positive number, not '$cycles'" >&2; exit 2;; esac
case $seed in ''|*[!0-9]*) echo "kill.sh: SEED must be a number, not '$seed'" >&2; exit 2;; esac
case $shards in ''|*[!0-9]*|0) echo "kill.sh: POSTA_SOAK_SHARDS must be a positive number, not '$shards'" >&2; exit 2;; esac
if [ "$shards" -gt "$cycles" ]; then
  echo "kill.sh: POSTA_SOAK_SHARDS ($shards) is more than the CYCLES ($cycles); give each shard a cycle at least" >&2
  exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
  echo "kill.sh: no build in $build; run ./scripts/test.sh once (or set POSTA_BUILD_DIR)" >&2
  exit 2
fi
# shellcheck disable=SC2086
cmake --build "$build" --target posta $loops >/dev/null

logs=$(mktemp -d "${TMPDIR:-/tmp}/posta-kill-soak.XXXXXX")
echo "kill.sh: $cycles cycles per loop in $shards shard(s), seed $seed, logs in $logs"
# The run uses copies of the binaries: a rebuild during an hours-long run
# would otherwise swap posta under it (the loops restart it every cycle).
mkdir "$logs/bin"
cp "$build/node/posta" "$logs/bin/posta"
for loop in $loops; do cp "$build/tests/fault/$loop" "$logs/bin/$loop"; done
export POSTA_BINARY=$logs/bin/posta

# The figures line of a log, or a line saying there was none.
figures_of() {  # log loop
  grep -h '^kill -9 figures' "$1" || echo "kill -9 figures [$2]: none printed"
}

failed=0
for loop in $loops; do
  start=$(date +%s)
  pids=()
  for (( i = 0; i < shards; i++ )); do
    # Shard i: its share of the cycles, seed SEED+i.
    n=$(( cycles / shards + (i < cycles % shards ? 1 : 0) ))
    log=$logs/$loop.log
    [ "$shards" = 1 ] || log=$logs/$loop.$i.log
    POSTA_KILL_CYCLES=$n POSTA_SYNC_KILL_CYCLES=$n POSTA_CLUSTER_KILL_CYCLES=$n \
      POSTA_KILL_SEED=$(( seed + i )) "$logs/bin/$loop" >"$log" 2>&1 &
    pids+=("$!")
  done
  result=passed
  for (( i = 0; i < shards; i++ )); do
    wait "${pids[$i]}" || result=FAILED
  done
  [ "$result" = passed ] || failed=1
  if [ "$shards" = 1 ]; then
    echo "$(figures_of "$logs/$loop.log" "$loop") ($result, $(( $(date +%s) - start )) s)"
    continue
  fi
  for (( i = 0; i < shards; i++ )); do
    echo "  shard $i, seed $(( seed + i )): $(figures_of "$logs/$loop.$i.log" "$loop")"
  done
  # The sums of the shards' figures, in the same format.
  cat "$logs/$loop".*.log | awk -v result="$result" -v shards="$shards" \
    -v secs=$(( $(date +%s) - start )) -v loop="$loop" '
    /^kill -9 figures \[/ {
      name = $0; sub(/^kill -9 figures \[/, "", name); sub(/\]:.*/, "", name)
      line = $0; sub(/^[^:]*: /, "", line)
      n = split(line, parts, ", ")
      for (j = 1; j <= n; j++) {
        label = parts[j]; sub(/ [0-9]+$/, "", label)
        value = parts[j]; sub(/.* /, "", value)
        sum[label] += value
      }
      ++printed
    }
    END {
      if (name == "") name = loop
      printf "kill -9 figures [%s]: cycles %d, acknowledged writes %d, lost %d, duplicated %d, integrity failures %d (%s, %d shards, %d of them printed figures, %d s)\n",
        name, sum["cycles"], sum["acknowledged writes"], sum["lost"], sum["duplicated"],
        sum["integrity failures"], result, shards, printed, secs
    }'
done
[ "$failed" = 0 ] || echo "kill.sh: a loop failed; see $logs" >&2
exit "$failed"
