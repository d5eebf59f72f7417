#!/usr/bin/env bash
# Command 2: installs what is missing, builds everything with warnings as
# errors and with crash points (POSTA_CRASH_POINTS), and runs the whole
# test suite (unit, integration, fault, and the package install test when
# run as root).
# Usage: ./scripts/test.sh [ctest args...]   e.g. ./scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh

build=${POSTA_BUILD_DIR:-build/test}
jobs=${POSTA_JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPOSTA_WERROR=ON -DPOSTA_CRASH_POINTS=ON -DPOSTA_BUILD_TESTS=ON -DPOSTA_BUILD_BENCH=ON >/dev/null
echo "test: building in $build with $jobs jobs"
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure --timeout 900 -j "$jobs" "$@"
