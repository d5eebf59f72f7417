#!/usr/bin/env bash
# The full slow-link soak: a clinic with a 5 MB backlog (raw JSON) syncs to
# its hub through 64 kbit/s, a 1 s round trip, 20 % loss, a reset of the
# link every 60 s and a 10 s stall every 45 s, over the userspace link and
# (as root, where network namespaces, tc tbf and nftables work) the
# kernel-shaped one. Prints one "slow link [...]" line of figures per link.
# Usage: tests/soak/link.sh [MB [RESET_SECONDS]]     defaults: 5 60
# Builds in build/test (as scripts/test.sh does) unless POSTA_BUILD_DIR says
# where a build already is.
set -euo pipefail
cd "$(dirname "$0")/../.."

mb=${1:-5}
reset=${2:-60}
build=${POSTA_BUILD_DIR:-build/test}
if [[ ! -x "$build/tests/fault/slow_link_test" ]]; then
  ./scripts/deps.sh
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPOSTA_WERROR=ON -DPOSTA_CRASH_POINTS=ON -DPOSTA_BUILD_TESTS=ON >/dev/null
fi
cmake --build "$build" -j "${POSTA_JOBS:-2}" --target posta slow_link_test
# Copies, so a rebuild during the run cannot swap the binaries under it.
bin=$(mktemp -d "${TMPDIR:-/tmp}/posta-slow-link-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
cp "$build/node/posta" "$build/tests/fault/slow_link_test" "$bin/"

POSTA_BINARY=$bin/posta POSTA_SLOW_LINK_MB=$mb POSTA_SLOW_LINK_RESET_S=$reset \
  POSTA_SLOW_LINK_STALL_S=${POSTA_SLOW_LINK_STALL_S:-10} \
  POSTA_SLOW_LINK_TIMEOUT_S=${POSTA_SLOW_LINK_TIMEOUT_S:-3600} \
  "$bin/slow_link_test" "${@:3}" 2>&1 |
  tee "${TMPDIR:-/tmp}/posta-slow-link.log" |
  grep -E 'slow link|SKIPPED|PASSED|FAILED|Failure|no shaped link' || true
grep -q '\[  PASSED  \]' "${TMPDIR:-/tmp}/posta-slow-link.log"
