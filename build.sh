#!/usr/bin/env bash
# build.sh — Engram's one entry point (Linux). build.ps1 is its Windows mirror.
#
#   ./build.sh            install what is missing, build native + managed
#   ./build.sh test       build, then native tests, sanitizer tests, managed tests;
#                         ends with "N passed, N failed, N skipped"
#   ./build.sh run        build, then `engram run` (verify + benchmark of CCE)
#   ./build.sh bench ...  build, then `engram bench ...` with your arguments
#   ./build.sh prereqs    only install prerequisites
#   ./build.sh clean      remove build directories
#
# Environment: ENGRAM_CUDA=auto|on|off (default auto: build the CUDA backend
# when nvcc exists; `on` also installs Debian's CUDA toolkit), ENGRAM_BUILD_DIR
# (default ./build), ENGRAM_SKIP_PREREQS=1 (never call apt), ENGRAM_SKIP_ASAN=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${ENGRAM_BUILD_DIR:-$ROOT/build}"
ASAN_DIR="$ROOT/build-asan"
CUDA_MODE="${ENGRAM_CUDA:-auto}"
CONFIG=Release

say() { printf '==> %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ---------------------------------------------------------------

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root (or sudo) to run: $*"; fi
}

# Debian ships the CUDA toolkit in contrib/non-free, which default sources lack.
enable_contrib_nonfree() {
    local f=/etc/apt/sources.list.d/debian.sources
    if [ -f "$f" ] && grep -q '^Components: main$' "$f"; then
        say "enabling Debian contrib and non-free components (for nvidia-cuda-toolkit)"
        as_root sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$f"
        return 0
    fi
    if [ -f /etc/apt/sources.list ] && grep -qE '^deb .* main$' /etc/apt/sources.list; then
        say "enabling Debian contrib and non-free components (for nvidia-cuda-toolkit)"
        as_root sed -i -E 's/^(deb .* main)$/\1 contrib non-free non-free-firmware/' /etc/apt/sources.list
        return 0
    fi
    return 1
}

prereqs() {
    [ "${ENGRAM_SKIP_PREREQS:-0}" = 1 ] && return 0
    local want=() pkg
    command -v cmake >/dev/null || want+=(cmake)
    command -v g++ >/dev/null || want+=(g++)
    command -v ninja >/dev/null || want+=(ninja-build)
    command -v pkg-config >/dev/null || want+=(pkg-config)
    for pkg in libgtest-dev libopenblas-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || want+=("$pkg")
    done
    if [ "$CUDA_MODE" != off ] && ! command -v nvcc >/dev/null; then
        if [ "$CUDA_MODE" = on ] || [ "${ENGRAM_INSTALL_CUDA:-1}" = 1 ]; then
            want+=(nvidia-cuda-toolkit clang-14)
        fi
    fi
    if command -v nvcc >/dev/null && ! command -v clang-14 >/dev/null; then want+=(clang-14); fi
    if [ ${#want[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || die "missing ${want[*]} and no apt-get: install them by hand"
        case " ${want[*]} " in *" nvidia-cuda-toolkit "*) enable_contrib_nonfree || true ;; esac
        say "installing ${want[*]} (apt-get)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${want[@]}"
    fi
    if ! command -v dotnet >/dev/null || ! dotnet --list-sdks 2>/dev/null | grep -q '^10\.'; then
        die "the .NET 10 SDK is missing. Install it (https://dotnet.microsoft.com/download/dotnet/10.0,
  or on Debian 12: wget https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb &&
  sudo dpkg -i packages-microsoft-prod.deb && sudo apt-get update && sudo apt-get install -y dotnet-sdk-10.0),
  then run ./build.sh again."
    fi
}

# --- native ------------------------------------------------------------------------

cmake_configure() {  # dir, extra args...
    local dir="$1"; shift
    local gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    local cuda=(-DENGRAM_WITH_CUDA=OFF)
    if [ "$CUDA_MODE" != off ] && command -v nvcc >/dev/null; then
        cuda=(-DENGRAM_WITH_CUDA="$([ "$CUDA_MODE" = on ] && echo ON || echo AUTO)")
        # Debian's nvcc (CUDA 11.8) rejects gcc 12: use clang-14 as host compiler.
        # CUDAHOSTCXX too, because CMake's language check ignores the cache entry.
        if nvcc --version | grep -q 'release 11\.' && command -v clang-14 >/dev/null; then
            cuda+=(-DCMAKE_CUDA_HOST_COMPILER=clang-14)
            export CUDAHOSTCXX=clang-14
        fi
    fi
    if [ ! -f "$dir/CMakeCache.txt" ] || [ "${ENGRAM_RECONFIGURE:-0}" = 1 ]; then
        say "configuring $(basename "$dir") (cmake)"
        cmake -S "$ROOT" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=$CONFIG "${cuda[@]}" "$@" >"$dir.configure.log" 2>&1 \
            || { cat "$dir.configure.log"; die "cmake configure failed"; }
        grep -E '^-- engram' "$dir.configure.log" || true
    fi
}

build_native() {
    cmake_configure "$BUILD_DIR"
    say "building libengram, native tests and engram-bench"
    cmake --build "$BUILD_DIR" -j"$(nproc)"
}

build_asan() {
    cmake_configure "$ASAN_DIR" -DENGRAM_SANITIZE=address,undefined -DENGRAM_WITH_CUDA=OFF \
        -DENGRAM_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
    say "building the native tests with AddressSanitizer + UndefinedBehaviorSanitizer"
    cmake --build "$ASAN_DIR" -j"$(nproc)"
}

# --- managed ------------------------------------------------------------------------

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

build_managed() {
    say "restoring NuGet packages and building the .NET layer and the engram CLI"
    dotnet build "$ROOT/Engram.slnx" -c $CONFIG -p:EngramNativeDir="$BUILD_DIR/lib" \
        -p:EngramBenchPath="$BUILD_DIR/bin/engram-bench" -nologo -v quiet -clp:ErrorsOnly
}

engram_cli() {
    local dll="$ROOT/managed/Engram.Cli/bin/$CONFIG/net10.0/engram.dll"
    [ -f "$dll" ] || die "engram CLI not built ($dll missing)"
    ENGRAM_NATIVE_PATH="$BUILD_DIR/lib" ENGRAM_BENCH="$BUILD_DIR/bin/engram-bench" dotnet "$dll" "$@"
}

build_all() { prereqs; build_native; build_managed; }

# --- tests ---------------------------------------------------------------------------

PASSED=0 FAILED=0 SKIPPED=0

# ctest JUnit output counts every GoogleTest case, its status and skips.
count_junit() {  # file
    local f="$1" t fl sk
    t=$(grep -o 'tests="[0-9]*"' "$f" | head -1 | grep -o '[0-9]*' || echo 0)
    fl=$(grep -o 'failures="[0-9]*"' "$f" | head -1 | grep -o '[0-9]*' || echo 0)
    sk=$(grep -o 'skipped="[0-9]*"' "$f" | head -1 | grep -o '[0-9]*' || echo 0)
    PASSED=$((PASSED + t - fl - sk)); FAILED=$((FAILED + fl)); SKIPPED=$((SKIPPED + sk))
    printf '    %s: %d passed, %d failed, %d skipped\n' "$(basename "$(dirname "$f")")" $((t - fl - sk)) "$fl" "$sk"
}

run_ctest() {  # dir, label
    local dir="$1" label="$2" junit="$1/ctest-junit.xml"
    say "native tests ($label)"
    rm -f "$junit"
    ctest --test-dir "$dir" -j"$(nproc)" --output-on-failure --output-junit "$junit" >"$dir.ctest.log" 2>&1 || true
    grep -E 'tests passed|tests failed|\*\*\*(Failed|Timeout|Exception)' "$dir.ctest.log" | tail -15 || true
    [ -f "$junit" ] || { cat "$dir.ctest.log"; FAILED=$((FAILED + 1)); return; }
    count_junit "$junit"
}

run_dotnet_tests() {
    say "managed tests (NUnit)"
    local log="$BUILD_DIR.dotnet-test.log"
    ENGRAM_NATIVE_PATH="$BUILD_DIR/lib" ENGRAM_BENCH="$BUILD_DIR/bin/engram-bench" \
        dotnet test "$ROOT/tests/Engram.Tests" -c $CONFIG -p:EngramNativeDir="$BUILD_DIR/lib" \
        -nologo >"$log" 2>&1 || true
    local line
    line=$(grep -E '(Passed|Failed)!.*Total:' "$log" | tail -1 || true)
    if [ -z "$line" ]; then
        tail -40 "$log"; FAILED=$((FAILED + 1)); return
    fi
    local p f s
    f=$(sed -E 's/.*Failed: *([0-9]+).*/\1/' <<<"$line")
    p=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$line")
    s=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$line")
    [ "$f" -gt 0 ] && grep -E '^\s+Failed ' "$log" | head -20
    printf '    managed: %d passed, %d failed, %d skipped\n' "$p" "$f" "$s"
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))
}

test_all() {
    build_all
    run_ctest "$BUILD_DIR" "release"
    if [ "${ENGRAM_SKIP_ASAN:-0}" != 1 ]; then
        build_asan
        ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest "$ASAN_DIR" "ASan + UBSan"
    fi
    run_dotnet_tests
    local line="$PASSED passed, $FAILED failed"
    [ "$SKIPPED" -gt 0 ] && line="$line, $SKIPPED skipped"
    echo "$line"
    [ "$FAILED" -eq 0 ]
}

cmd="${1:-build}"
[ $# -gt 0 ] && shift
case "$cmd" in
    build) build_all ;;
    prereqs) prereqs ;;
    test) test_all ;;
    run) build_all; engram_cli run "$@" ;;
    bench) build_all; engram_cli bench "$@" ;;
    clean) rm -rf "$BUILD_DIR" "$ASAN_DIR" "$BUILD_DIR".*.log "$ASAN_DIR".*.log ;;
    -h|--help|help) sed -n '2,17p' "$0" ;;
    *) die "unknown command '$cmd' (build, test, run, bench, prereqs, clean)" ;;
esac
