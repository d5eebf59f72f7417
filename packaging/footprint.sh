#!/usr/bin/env bash
# The arm64 build's footprint, measured under qemu-aarch64-static on this
# machine: the stripped binary's size, the idle RSS of `posta serve`, and
# the peak RSS of `posta sync` pulling a clinic's 10,000-odd records from a
# hub into a fresh box. The hub and the clinic that fills it run natively.
# RSS under qemu is that of the emulator process: the guest's pages plus
# qemu's own (its code and translated-code cache), so it overstates a board.
# The script also splits it: qemu places the aarch64 guest below 1 TiB of
# the address space here and itself above, so the guest's share is the Rss
# of the mappings below 1 TiB in /proc/PID/smaps, the nearest this machine
# gets to what a board would show.
# Usage: packaging/footprint.sh ARM64_POSTA NATIVE_POSTA [PATIENTS]
#   e.g. packaging/footprint.sh build/arm64/node/posta build/test/node/posta
set -euo pipefail
arm_built=${1:?usage: footprint.sh ARM64_POSTA NATIVE_POSTA [PATIENTS]}
native=$(realpath "${2:?usage: footprint.sh ARM64_POSTA NATIVE_POSTA [PATIENTS]}")
patients=${3:-1140}   # about 10,000 records (patients, encounters, vitals)
qemu=(qemu-aarch64-static -L /)  # see cmake/toolchain-arm64.cmake

work=$(mktemp -d "${TMPDIR:-/tmp}/posta-footprint-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

arm=$work/posta-arm64
aarch64-linux-gnu-strip -o "$arm" "$arm_built"
echo "stripped arm64 binary: $(stat -c %s "$arm") bytes"

wait_port() {  # wait_port FILE: the port once the server wrote it
  for _ in $(seq 1 300); do
    [ -s "$1" ] && { cat "$1"; return; }
    sleep 0.1
  done
  echo "footprint: no port in $1" >&2; return 1
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# "GUEST QEMU" kB: Rss of mappings below 1 TiB (start address of at most
# ten hex digits) and of the rest.
split_kb() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / { split($1, a, "-"); guest = length(a[1]) <= 10 }
       /^Rss:/ { if (guest) g += $2; else q += $2 }
       END { print g + 0, q + 0 }' "/proc/$1/smaps" 2>/dev/null || echo "0 0"
}

# Idle: two seconds after start and one /health, like posta_bench --only rss.
"${qemu[@]}" "$arm" init --dir "$work/idle" --facility clinic-idle \
  --listen 127.0.0.1:0 >/dev/null
"${qemu[@]}" "$arm" serve --config "$work/idle/posta.toml" \
  --port-file "$work/idle.port" >/dev/null 2>&1 &
pid=$!; pids+=("$pid")
if port=$(wait_port "$work/idle.port"); then
  curl -sf "http://127.0.0.1:$port/health" >/dev/null
  sleep 2
  read -r guest own < <(split_kb "$pid")
  echo "idle RSS of posta serve under qemu: $(rss_kb "$pid") kB" \
    "(the guest's mappings $guest kB, qemu's own $own kB)"
  kill -TERM "$pid"; wait "$pid" || true
else
  echo "idle RSS: posta serve did not listen within 30 s under qemu (RSS $(rss_kb "$pid") kB)"
  kill -KILL "$pid"; wait "$pid" || true
fi

# A hub holding one clinic's records, pulled by a fresh arm64 box.
"$native" init --dir "$work/hub" --role hub --facility region-f \
  --listen 127.0.0.1:0 >/dev/null
sed -i 's/^allow_plain_http = false/allow_plain_http = true/' "$work/hub/posta.toml"
"$native" serve --config "$work/hub/posta.toml" --port-file "$work/hub.port" \
  >/dev/null 2>&1 &
pids+=("$!")
hub=http://127.0.0.1:$(wait_port "$work/hub.port")
"$native" hub facility add --config "$work/hub/posta.toml" clinic-f \
  --name "Clinic F" >/dev/null
code() {
  "$native" hub enroll-code --config "$work/hub/posta.toml" --facility clinic-f |
    sed -n 's/.*clinic-f: \([0-9A-Z-]*\).*/\1/p'
}
"$native" init --dir "$work/a" --facility clinic-f --hub "$hub" >/dev/null
"$native" enroll --config "$work/a/posta.toml" --code "$(code)" >/dev/null
"$native" demo seed --config "$work/a/posta.toml" --patients "$patients" \
  --seed 1 >/dev/null
"$native" sync --config "$work/a/posta.toml" >/dev/null 2>&1

"${qemu[@]}" "$arm" init --dir "$work/b" --facility clinic-f --hub "$hub" >/dev/null
"${qemu[@]}" "$arm" enroll --config "$work/b/posta.toml" --code "$(code)" >/dev/null
/usr/bin/time -f "%M %e" -o "$work/pull.time" \
  timeout "${POSTA_PULL_TIMEOUT:-300}" "${qemu[@]}" "$arm" sync --config "$work/b/posta.toml" >/dev/null 2>&1 &
timer=$!
# The guest's share, sampled every 0.1 s while the pull runs.
guest_peak=0
while kill -0 "$timer" 2>/dev/null; do
  for p in $(pgrep -P "$timer" -f qemu-aarch64 || true) \
           $(pgrep -f "qemu-aarch64-static -L / $arm sync" || true); do
    read -r guest _ < <(split_kb "$p")
    [ "$guest" -gt "$guest_peak" ] && guest_peak=$guest
  done
  sleep 0.1
done
wait "$timer" || true
records=$("$native" status --config "$work/b/posta.toml" --json |
  sed -n 's/.*"live_records":\([0-9]*\).*/\1/p')
read -r peak secs <"$work/pull.time"
echo "pull of $records records by posta sync under qemu: peak RSS $peak kB" \
  "(the guest's mappings at most $guest_peak kB, sampled), $secs s"
