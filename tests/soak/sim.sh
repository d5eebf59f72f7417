#!/usr/bin/env bash
# Runs the deterministic simulation over any number of seeds and prints its
# summary line (tests/soak/README.md, "Simulation").
# Usage: tests/soak/sim.sh [count] [first-seed]     e.g. tests/soak/sim.sh 20000
#   POSTA_BUILD_DIR  build directory (default build/test, as scripts/test.sh)
#   POSTA_SIM_STEPS  steps per seed (default 40)
# A failing seed is printed with the command that replays it; the exit
# status is non-zero when any seed failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

count=${1:-10000}
first=${2:-1}
build=${POSTA_BUILD_DIR:-build/test}
bin="$build/tests/sim/sim_test"
if [[ ! -x "$bin" ]]; then
  echo "sim.sh: $bin not built; run ./scripts/test.sh -R sim first" >&2
  exit 2
fi
POSTA_SIM_FIRST_SEED="$first" POSTA_SIM_SEEDS="$count" \
  "$bin" --gtest_filter=SimSoak.Seeds 2>&1 | grep --line-buffered -v '^\['
exit "${PIPESTATUS[0]}"
