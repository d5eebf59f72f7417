#!/usr/bin/env bash
# Command 1: installs what is missing, builds posta, creates a clinic node in
# ./demo seeded with generated records, and serves it on loopback until
# Ctrl-C. Usage: ./scripts/demo.sh [PORT]   (default 8080)
set -euo pipefail
cd "$(dirname "$0")/.."

port=${1:-8080}
./scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPOSTA_BUILD_TESTS=OFF -DPOSTA_BUILD_BENCH=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target posta
posta=$PWD/build/release/node/posta

dir=$PWD/demo/clinic
if [ ! -f "$dir/posta.toml" ]; then
  "$posta" init --dir "$dir" --role clinic --facility clinic-demo \
    --listen "127.0.0.1:$port"
  "$posta" demo seed --config "$dir/posta.toml" --patients 200 --seed 1
else
  echo "demo: reusing $dir (delete it for a fresh node)"
fi
"$posta" status --config "$dir/posta.toml"

base="http://127.0.0.1:$port"
cat <<URLS

posta clinic node is starting. Open:
  $base/health                         node health (JSON)
  $base/fhir/metadata                  what the API supports
  $base/fhir/Patient?name=garcia       patients named García (case and accents ignored)
  $base/fhir/Encounter?date=ge2026-01-01&_count=10
  $base/fhir/Observation?code=8310-5   body temperatures
  $base/fhir/Appointment?status=booked
  $base/metrics                        Prometheus metrics
Stop with Ctrl-C.

URLS
exec "$posta" serve --config "$dir/posta.toml"
