#!/usr/bin/env bash
# Writes packaging/startup-order.txt: the code sections `posta serve` runs
# from its start to its first idle seconds, then those a clinic app's first
# requests add, in that order. The link puts these sections next to each
# other (ld.gold --section-ordering-file; see the top CMakeLists.txt), so
# an idle node maps about 1 MB of posta's code instead of 3 MB: the kernel
# maps code in 64 KiB runs around each page first touched, and without the
# order the start-up code is spread over the whole binary.
#
# The list goes stale as the code changes; a stale entry only loses its
# gain. Run this after large changes and commit the new list with them.
# Give it the Release build (packages, command 1) and the RelWithDebInfo
# one (tests): the compiler inlines differently at -O3 and -O2, so each
# has functions the other lacks. The lists are merged, Release first.
# It needs valgrind (callgrind) and curl, and builds whose objects were
# compiled with -ffunction-sections (the default with GCC):
#   cmake --build build/release --target posta
#   cmake --build build/test --target posta
#   packaging/startup-order.sh build/release build/test
# `--check [--min PERCENT] BUILD_DIR...` only counts how many listed
# sections each build has (OBJDUMP=aarch64-linux-gnu-objdump for an arm64
# build), and fails when a build has fewer than PERCENT of them: the list
# has gone stale (ctest's startup_order_fresh runs it with 75).
set -euo pipefail
cd "$(dirname "$0")/.."
out=packaging/startup-order.txt
objdump=${OBJDUMP:-objdump}
usage="usage: packaging/startup-order.sh [--check [--min PERCENT]] BUILD_DIR..."

check=0 min=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
if [ "$check" = 1 ] && [ "${1:-}" = "--min" ]; then
  min=${2:?--min needs a percent}; shift 2
  case $min in ''|*[!0-9]*) echo "startup-order: --min takes a whole percent, not '$min'" >&2; exit 2;; esac
fi
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
for build in "$@"; do
  [ -x "$build/node/posta" ] || {
    echo "startup-order: no $build/node/posta; build the posta target first" >&2; exit 1; }
done

# "SYMBOL SECTION" for every function of posta's own objects in a section
# named .text.* (objdump -t: the section is the third field from the end,
# the name the last).
sections() {
  find "$1" -name 'libposta_*.a' -o -name 'main.cc.o' | sort |
    xargs "$objdump" -t 2>/dev/null |
    awk 'NF >= 5 && $(NF-2) ~ /^\.text\./ { print $NF, $(NF-2) }'
}

if [ "$check" = 1 ]; then
  stale=0
  for build in "$@"; do
    sections "$build" | awk -v build="$build" -v min="$min" '
      NR == FNR { have[$2] = 1; next }
      /^\./ { n++; if ($1 in have) found++ }
      END {
        printf "startup-order: %s has %d of the %d listed sections\n", build, found, n
        if (found * 100 < min * n) {
          printf "startup-order: fewer than %d%%: the list is stale; rewrite it with packaging/startup-order.sh (packaging/README.md, \"Idle memory\")\n", min
          exit 1
        }
      }' - "$out" || stale=1
  done
  exit "$stale"
fi

for tool in valgrind callgrind_control curl "$objdump"; do
  command -v "$tool" >/dev/null || {
    echo "startup-order: needs $tool (apt-get install valgrind curl binutils)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/posta-order-XXXXXX")
vpid=
cleanup() {
  [ -n "$vpid" ] && kill -KILL "$vpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Function names run in posta itself, in the given callgrind files (each
# caller sorts and dedupes them). Callgrind compresses names: "fn=(12)
# NAME" the first time, "fn=(12)" after; a "'2" suffix marks a recursion
# level. ob= says whose code follows.
functions() {
  awk '
    function name(v, table,   id, rest) {
      if (v !~ /^\([0-9]+\)/) return v
      id = substr(v, 2, index(v, ")") - 2)
      rest = substr(v, index(v, ")") + 2)
      if (rest != "") table[id] = rest
      return table[id]
    }
    FNR == 1 { delete obs; delete fns; ob = "" }
    /^ob=/  { ob = name(substr($0, 4), obs); next }
    /^cob=/ { name(substr($0, 5), obs); next }
    /^cfn=/ { name(substr($0, 5), fns); next }
    /^fn=/  { f = name(substr($0, 4), fns); sub(/\047[0-9]+$/, "", f)
              if (ob ~ /\/node\/posta$/) print f }
  ' "$@"
}

# trace BUILD N: runs BUILD's posta serve under callgrind and writes
# $work/sections.N, the sections it ran, in order.
trace() {
  local posta=$1/node/posta run=$work/run$2
  mkdir "$run"
  "$posta" init --dir "$run/node" --facility order --listen 127.0.0.1:0 >/dev/null
  echo "startup-order: $posta serve under callgrind..."
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$run/cg" \
    "$posta" serve --config "$run/node/posta.toml" --port-file "$run/port" \
    >/dev/null 2>"$run/valgrind.log" &
  vpid=$!
  for _ in $(seq 1 1200); do [ -s "$run/port" ] && break; sleep 0.1; done
  [ -s "$run/port" ] || {
    echo "startup-order: serve did not start" >&2; cat "$run/valgrind.log" >&2; exit 1; }
  local base=http://127.0.0.1:$(cat "$run/port")

  # Phase 1, what the idle figure measures: start, one /health, idle.
  # callgrind_control's dump is cg.1.
  curl -sf "$base/health" >/dev/null
  sleep 3
  callgrind_control --dump=idle "$vpid" >/dev/null 2>&1

  # Phase 2: a clinic app's first requests. The dump at exit is cg.
  local patient location
  patient='{"resourceType":"Patient","identifier":[{"system":"urn:posta:mrn","value":"ORDER-1"}],
    "name":[{"family":"Okafor","given":["Ngozi"]}],"gender":"female","birthDate":"1991-07-14"}'
  location=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/fhir+json' \
    --data "$patient" "$base/fhir/Patient" |
    awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
  [ -n "$location" ] || { echo "startup-order: the create gave no Location" >&2; exit 1; }
  curl -sf "$location" >/dev/null
  curl -sf "$base/fhir/Patient?name=okafor" >/dev/null
  curl -sf "$base/fhir/Patient?identifier=ORDER-1" >/dev/null
  curl -sf "$base/metrics" >/dev/null
  curl -sf "$base/health" >/dev/null
  kill -TERM "$vpid"
  wait "$vpid" || true
  vpid=

  # Each phase's functions sorted by name, so that a rewritten list differs
  # from the last one only where the code did.
  functions "$run/cg.1" | LC_ALL=C sort -u >"$run/phase1"
  functions "$run/cg" | LC_ALL=C sort -u | LC_ALL=C comm -13 "$run/phase1" - |
    cat "$run/phase1" - >"$run/functions"
  sections "$1" >"$run/symbols"
  awk 'NR == FNR { if (!($1 in sec)) sec[$1] = $2; next }
       ($1 in sec) && !(sec[$1] in done) { done[sec[$1]] = 1; print sec[$1] }' \
    "$run/symbols" "$run/functions" >"$work/sections.$2"
  echo "startup-order: $(wc -l <"$work/sections.$2") sections" \
    "of $(wc -l <"$run/functions") functions run"
}

n=0
for build in "$@"; do
  n=$((n + 1))
  trace "$build" "$n"
done
{
  echo "# posta's start-up order, written by packaging/startup-order.sh; read"
  echo "# by ld.gold --section-ordering-file. Start and idle first, then a"
  echo "# clinic app's first requests."
  for i in $(seq 1 "$n"); do cat "$work/sections.$i"; done | awk '!seen[$0]++'
} >"$out"
echo "startup-order: $(grep -c '^\.' "$out") sections in $out"
