#!/usr/bin/env bash
# Command 1: installs what is missing, builds posta, creates a hub and a
# clinic node in ./demo, gives the hub a self-signed TLS certificate (`posta
# hub tls init`), registers the clinic's facility on the hub and enrolls the
# clinic with a one-time code and the hub's key pin, seeds the clinic with
# generated records, syncs it to the hub over HTTPS, and serves both on
# loopback until Ctrl-C (the clinic keeps syncing in the background).
# Usage: ./scripts/demo.sh [CLINIC_PORT [HUB_PORT]]   (default 8080 8081)
set -euo pipefail
cd "$(dirname "$0")/.."

port=${1:-8080}
hub_port=${2:-8081}
./scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPOSTA_BUILD_TESTS=OFF -DPOSTA_BUILD_BENCH=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target posta
posta=$PWD/build/release/node/posta

hub_dir=$PWD/demo/hub
dir=$PWD/demo/clinic
hub_url="https://127.0.0.1:$hub_port"
pin_file=$PWD/demo/hub-pin
if [ ! -f "$hub_dir/posta.toml" ]; then
  "$posta" init --dir "$hub_dir" --role hub --facility region-demo \
    --listen "127.0.0.1:$hub_port"
  # Shared reference data: one Location per demo facility, sent to clinics.
  "$posta" demo locations --config "$hub_dir/posta.toml" \
    --facility region-demo --facility clinic-demo
  # The hub's administrator registers the clinic's facility.
  "$posta" hub facility add --config "$hub_dir/posta.toml" clinic-demo \
    --name "Demo clinic" --region demo
fi
if grep -q '^tls_cert = ""' "$hub_dir/posta.toml"; then
  # The hub's first install: a self-signed certificate; clinics pin its key.
  "$posta" hub tls init --config "$hub_dir/posta.toml" | tee "$PWD/demo/hub-tls.txt"
  sed -n 's/^pin: *//p' "$PWD/demo/hub-tls.txt" >"$pin_file"
fi
pin=$(cat "$pin_file")
fresh_clinic=no
if [ ! -f "$dir/posta.toml" ]; then
  "$posta" init --dir "$dir" --role clinic --facility clinic-demo \
    --listen "127.0.0.1:$port"
  "$posta" demo seed --config "$dir/posta.toml" --patients 200 --seed 1
  fresh_clinic=yes
else
  echo "demo: reusing $dir and $hub_dir (delete ./demo for fresh nodes)"
fi

pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop EXIT INT TERM

"$posta" serve --config "$hub_dir/posta.toml" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs --insecure --pinnedpubkey "$pin" "$hub_url/health" >/dev/null 2>&1 && break
  sleep 0.1
done
if [ "$fresh_clinic" = yes ] || [ ! -f "$dir/credential" ] ||
  ! grep -q "^hub_pin = \"$pin\"" "$dir/posta.toml"; then
  # What a technician does on the clinic's box, with the code the hub's
  # administrator issued: enroll once, then sync.
  code=$("$posta" hub enroll-code --config "$hub_dir/posta.toml" \
    --facility clinic-demo --expires 1h | sed -n 's/^enrollment code for facility clinic-demo: //p')
  echo "demo: the hub issued enrollment code $code for clinic-demo"
  "$posta" enroll --config "$dir/posta.toml" --hub "$hub_url" --code "$code" \
    --pin "$pin"
fi
"$posta" sync --config "$dir/posta.toml"
"$posta" status --config "$dir/posta.toml"

base="http://127.0.0.1:$port"
cat <<URLS

posta hub and clinic are running. Open:
  clinic  $base/health                         node health, sync state (JSON)
  clinic  $base/fhir/Patient?name=garcia       patients named García (case and accents ignored)
  clinic  $base/fhir/Encounter?date=ge2026-01-01&_count=10
  clinic  $base/fhir/Observation?code=8310-5   body temperatures
  clinic  $base/fhir/Location                  facilities, shared by the hub
  clinic  $base/conflicts                      edits that clashed during sync
  clinic  $base/metrics                        Prometheus metrics
  hub     $hub_url/health
  hub     $hub_url/fhir/Patient?_count=10     the same records, gathered at the hub
  hub     $hub_url/conflicts
  hub     $hub_url/ui/freshness            coordinators: which clinics synced, which went quiet
  hub     $hub_url/ui/activity             coordinators: patients, encounters, vitals, appointments by month
The hub speaks HTTPS with a self-signed certificate: a browser warns once;
with curl, pin its key: curl --insecure --pinnedpubkey '$pin' $hub_url/health
Write to the clinic and it syncs to the hub about ten seconds later. Stop with Ctrl-C.

URLS
"$posta" serve --config "$dir/posta.toml" &
pids+=($!)
wait
