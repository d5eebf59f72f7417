#!/usr/bin/env bash
# Installs the Debian 12 packages posta needs to build and test, skipping
# those already present. Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libsqlite3-dev libcurl4-openssl-dev libboost-dev libcereal-dev
  libgtest-dev libgmock-dev libssl-dev libzstd-dev nlohmann-json3-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev
  sqlite3 curl time
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} Debian packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
