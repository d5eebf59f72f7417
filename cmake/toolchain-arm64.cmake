# Cross-builds posta for 64-bit ARM boards (Debian arm64) on a Debian 12
# amd64 machine, with Debian's multiarch :arm64 libraries
# (`./scripts/deps.sh --arm64`). Test binaries run through qemu user
# emulation, so ctest works here; binfmt is not relied on.
#   cmake -S . -B build/arm64 -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake
# scripts/cross-test.sh does this and runs the unit tests.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Searches lib/aarch64-linux-gnu (libraries and their CMake configs) and
# never the amd64 ones; headers in /usr/include serve both.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(PKG_CONFIG_EXECUTABLE aarch64-linux-gnu-pkg-config CACHE FILEPATH
    "pkg-config for the arm64 libraries")

# `-L /`: the loader and libc are the multiarch libc6:arm64 ones in
# /lib/aarch64-linux-gnu, the same build as every other :arm64 library.
# With `-L /usr/aarch64-linux-gnu` the cross toolchain's own ld.so (another
# build of glibc 2.36) loads the multiarch libc.so.6, and the mixed pair
# hangs at the first pthread_create: every threaded test and `posta serve`
# did, even a five-line C program.
find_program(POSTA_QEMU_AARCH64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${POSTA_QEMU_AARCH64};-L;/")
