#!/usr/bin/env bash
# Builds the Release .deb packages of posta for amd64 and arm64 into dist/
# and checks each with lintian (errors fail the build). Installs what it
# needs first (scripts/deps.sh --package --arm64).
# Usage: ./packaging/build-debs.sh [amd64] [arm64]     (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)
deps=(--package)
for a in "${arches[@]}"; do
  case "$a" in
    amd64) ;;
    arm64) deps+=(--arm64) ;;
    *) echo "build-debs: unknown architecture $a (amd64 or arm64)" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh "${deps[@]}"

jobs=${POSTA_JOBS:-$(nproc)}
mkdir -p dist
for a in "${arches[@]}"; do
  build=build/deb-$a
  toolchain=()
  [ "$a" = amd64 ] || toolchain=(-DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-$a.cmake)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPOSTA_BUILD_TESTS=OFF -DPOSTA_BUILD_BENCH=OFF "${toolchain[@]}" >/dev/null
  echo "build-debs: building $a in $build with $jobs jobs"
  cmake --build "$build" -j "$jobs"
  # dpkg-shlibdeps reads the target's libraries through DEB_HOST_ARCH.
  (cd "$build" && DEB_HOST_ARCH=$a cpack -G DEB -B "$PWD/../../dist/cpack-$a" >/dev/null)
  deb=$(ls "dist/cpack-$a"/posta_*_"$a".deb)
  mv "$deb" dist/
  rm -rf "dist/cpack-$a"
  deb=dist/$(basename "$deb")
  echo "build-debs: $deb ($(du -k "$deb" | cut -f1) KiB)"
  lintian --fail-on error "$deb"
done
