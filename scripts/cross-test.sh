#!/usr/bin/env bash
# Cross-builds posta for arm64 (cmake/toolchain-arm64.cmake) and runs the
# unit tests under qemu-aarch64-static on this amd64 machine. Installs the
# cross toolchain, qemu and the :arm64 libraries first (scripts/deps.sh
# --arm64; quick when they are present).
# Usage: ./scripts/cross-test.sh             every unit test
#        ./scripts/cross-test.sh --ci        the storage and sync unit tests
#                                            only (what CI runs: storage,
#                                            resources, merge, wire, auth)
#        ./scripts/cross-test.sh [--ci] -- [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

ci=0
if [ "${1:-}" = "--ci" ]; then ci=1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi

./scripts/deps.sh --arm64

build=${POSTA_ARM64_BUILD_DIR:-build/arm64}
jobs=${POSTA_JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake -DPOSTA_WERROR=ON \
  -DPOSTA_BUILD_TESTS=ON -DPOSTA_BUILD_BENCH=OFF >/dev/null
if [ "$ci" -eq 1 ]; then
  targets=(storage_test resources_test sync_merge_test sync_wire_test
           sync_auth_test)
  labels=(-L unit -L 'storage|sync')
else
  # Every unit test binary, and posta itself for cli_smoke; the
  # integration and fault tests start processes of their own and run
  # natively only.
  targets=(posta base_test storage_test resources_test node_api_test
           node_cli_test sync_merge_test sync_wire_test sync_transport_test
           sync_protocol_test sync_auth_test)
  labels=(-L unit)
fi
echo "cross-test: building ${#targets[@]} arm64 targets in $build with $jobs jobs"
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
cd "$build"
# --timeout: a hang under the emulator fails instead of stalling CI.
ctest --output-on-failure --timeout 120 -j "$jobs" "${labels[@]}" "$@"
