#!/usr/bin/env bash
# Installs the Debian 12 packages posta needs to build and test, skipping
# those already present. Runs apt-get as root, or through sudo.
# Usage: ./scripts/deps.sh            the native build and tests
#        ./scripts/deps.sh --package  also lintian, for building .deb packages
#        ./scripts/deps.sh --arm64    also the arm64 cross toolchain, qemu and
#                                     the :arm64 libraries (scripts/cross-test.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libsqlite3-dev libcurl4-openssl-dev libboost-dev libcereal-dev
  libgtest-dev libgmock-dev libssl-dev libzstd-dev nlohmann-json3-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev
  sqlite3 curl time
  chromium
  iproute2 nftables
)
# Architecture-dependent libraries the arm64 build links (header-only ones
# of architecture "all" — nlohmann-json, CLI11 — serve both builds; cereal
# is taken from the native package's headers, see cmake/toolchain-arm64.cmake).
arm64_libs=(
  libsqlite3-dev libcurl4-openssl-dev libboost-dev libgtest-dev libgmock-dev
  libssl-dev libzstd-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
)

arm64=0
for arg in "$@"; do
  case "$arg" in
    --package) packages+=(dpkg-dev fakeroot lintian file) ;;
    --arm64)
      arm64=1
      packages+=(crossbuild-essential-arm64 qemu-user-static dpkg-dev file)
      for p in "${arm64_libs[@]}"; do packages+=("$p:arm64"); done
      ;;
    *) echo "deps: unknown option $arg (use --package or --arm64)" >&2; exit 2 ;;
  esac
done

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
if [ "$arm64" -eq 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "deps: adding the arm64 architecture to dpkg"
  $sudo dpkg --add-architecture arm64
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
