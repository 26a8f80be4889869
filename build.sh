#!/usr/bin/env bash
# build.sh — Engram's one entry point (Linux). build.ps1 is its Windows mirror.
#
#   ./build.sh            install what is missing, build native + managed
#   ./build.sh test       build, then native tests, sanitizer tests (ASan + UBSan,
#                         a libFuzzer run of the C ABI per CPU ISA, ThreadSanitizer on
#                         the concurrency tests), Python and managed tests, the NuGet
#                         packages run from a local feed, the quick benchmark's ratio check
#                         against perf/baselines;
#                         ends with "N passed, N failed, N skipped"
#   ./build.sh run        build, then `engram run` (verify + benchmark of CCE)
#   ./build.sh bench ...  build, then `engram bench ...` with your arguments
#   ./build.sh pack       build, then the NuGet packages (Engram, Engram.Cli tool) in build/nuget
#   ./build.sh overhead   build, then BenchmarkDotNet: the .NET layer's cost per call (perf/managed)
#   ./build.sh prereqs    only install prerequisites
#   ./build.sh clean      remove build directories
#
# Environment: ENGRAM_CUDA=auto|on|off (default auto: build the CUDA backend
# when nvcc exists; `on` also installs Debian's CUDA toolkit), ENGRAM_BUILD_DIR
# (default ./build), ENGRAM_SKIP_PREREQS=1 (never call apt), ENGRAM_SKIP_ASAN=1,
# ENGRAM_SKIP_FUZZ=1, ENGRAM_SKIP_TSAN=1, ENGRAM_FUZZ_SECONDS (default 20, per ISA).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${ENGRAM_BUILD_DIR:-$ROOT/build}"
ASAN_DIR="$ROOT/build-asan"
FUZZ_DIR="$ROOT/build-fuzz"
TSAN_DIR="$ROOT/build-tsan"
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
    for pkg in libgtest-dev libopenblas-dev libopenmpi-dev openmpi-bin python3-torch python3-numpy; do
        dpkg -s "$pkg" >/dev/null 2>&1 || want+=("$pkg")
    done
    if [ "$CUDA_MODE" != off ] && ! command -v nvcc >/dev/null; then
        if [ "$CUDA_MODE" = on ] || [ "${ENGRAM_INSTALL_CUDA:-1}" = 1 ]; then
            want+=(nvidia-cuda-toolkit clang-14)
        fi
    fi
    if command -v nvcc >/dev/null && ! command -v clang-14 >/dev/null; then want+=(clang-14); fi
    # `test` fuzzes the C ABI with clang-14's libFuzzer (tests/fuzz), whose
    # runtime is a separate package; install both rather than skip the fuzzing.
    if [ "$cmd" = test ] && [ "${ENGRAM_SKIP_FUZZ:-0}" != 1 ] && ! command -v clang++-14 >/dev/null; then
        want+=(clang-14)
    fi
    if command -v clang-14 >/dev/null || [[ " ${want[*]} " == *" clang-14 "* ]]; then
        dpkg -s libclang-rt-14-dev >/dev/null 2>&1 || want+=(libclang-rt-14-dev)
    fi
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

# libFuzzer harness of the C ABI (tests/fuzz): clang-14, libengram instrumented
# for coverage, ASan and UBSan; CPU only.
build_fuzz() {
    CC=clang-14 CXX=clang++-14 cmake_configure "$FUZZ_DIR" -DENGRAM_WITH_CUDA=OFF \
        -DENGRAM_BUILD_TESTS=OFF -DENGRAM_BUILD_BENCH=OFF -DENGRAM_BUILD_FUZZ=ON \
        -DENGRAM_SANITIZE=fuzzer-no-link,address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo
    say "building the C ABI fuzz harness (libFuzzer + ASan + UBSan)"
    cmake --build "$FUZZ_DIR" -j"$(nproc)" --target engram_abi_fuzz
}

# ThreadSanitizer: only the concurrency tests (context_test, concurrency_test);
# not ContextThreads.*, which cap the address space that TSan's shadow needs.
TSAN_TESTS='^Backends/(ContextTest|ConcurrencyTest)\.|^Context(Errors|Lifetime)\.'
build_tsan() {
    cmake_configure "$TSAN_DIR" -DENGRAM_SANITIZE=thread -DENGRAM_WITH_CUDA=OFF \
        -DENGRAM_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
    say "building the concurrency tests with ThreadSanitizer"
    cmake --build "$TSAN_DIR" -j"$(nproc)" --target engram_context_test engram_concurrency_test
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

run_ctest() {  # dir, label, [more ctest arguments, e.g. -R regex]
    local dir="$1" label="$2" junit="$1/ctest-junit.xml"
    say "native tests ($label)"
    rm -f "$junit"
    ctest --test-dir "$dir" -j"$(nproc)" --output-on-failure --output-junit "$junit" "${@:3}" \
        >"$dir.ctest.log" 2>&1 || true
    grep -E 'tests passed|tests failed|\*\*\*(Failed|Timeout|Exception)' "$dir.ctest.log" | tail -15 || true
    [ -f "$junit" ] || { cat "$dir.ctest.log"; FAILED=$((FAILED + 1)); return; }
    count_junit "$junit"
}

# One fixed-time libFuzzer run per CPU ISA (ENGRAM_CPU_ISA), each one test: it
# passes when the fuzzer stops on time with no crash, leak, sanitizer report or
# harness assertion. The committed corpus is copied, so it does not grow; what
# a failing run found stays in build-fuzz/run-<isa>/artifacts.
run_fuzz() {
    local bin="$FUZZ_DIR/bin/engram_abi_fuzz" secs="${ENGRAM_FUZZ_SECONDS:-20}" isa work log repro
    say "fuzzing the C ABI (libFuzzer + ASan + UBSan), ${secs} s per CPU ISA"
    for isa in avx512_bf16 avx512 avx2 scalar; do
        work="$FUZZ_DIR/run-$isa"
        log="$work/fuzz.log"
        rm -rf "$work"
        mkdir -p "$work/corpus" "$work/artifacts"
        cp "$ROOT"/tests/fuzz/corpus/engram_abi_fuzz/* "$work/corpus/"
        if ENGRAM_CPU_ISA=$isa ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
            timeout $((secs * 3 + 120)) "$bin" -max_total_time="$secs" -max_len=256 \
            -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1; then
            PASSED=$((PASSED + 1))
            printf '    fuzz %s: passed, %s inputs (%s)\n' "$isa" \
                "$(grep -o 'number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')" \
                "$(grep -o 'kernels [a-z0-9_]*' "$log" | head -1)"
        else
            FAILED=$((FAILED + 1))
            grep -E 'assertion failed|     call:|^     [^ ]|runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY' \
                "$log" | head -12 | sed 's/^/    /'
            repro=$(grep -o 'Test unit written to .*' "$log" | sed 's/Test unit written to //' | head -1)
            printf '    fuzz %s: FAILED (log %s)\n' "$isa" "$log"
            [ -n "$repro" ] && printf '    reproduce: ENGRAM_CPU_ISA=%s ENGRAM_FUZZ_TRACE=1 %s %s\n' "$isa" "$bin" "$repro"
        fi
    done
}

# C/C++ consumers: install to a staging prefix, then build and run the C sample
# with find_package(engram) and with pkg-config, check that README's C snippet
# is that sample, and that add_subdirectory stays out of the consumer's way.
check_consumers() {
    local stage="$BUILD_DIR/stage" work="$BUILD_DIR/consumers" line
    say "C consumers of an installed Engram (find_package, pkg-config, add_subdirectory)"
    rm -rf "$stage" "$work"
    if ! cmake --install "$BUILD_DIR" --prefix "$stage" >"$BUILD_DIR.install.log" 2>&1; then
        cat "$BUILD_DIR.install.log"; FAILED=$((FAILED + 1)); return
    fi
    while read -r line; do
        printf '    %s\n' "$line"
        case "$line" in ok\ *) PASSED=$((PASSED + 1)) ;; *) FAILED=$((FAILED + 1)) ;; esac
    done < <(bash "$ROOT/samples/c/check_consumers.sh" "$stage" "$work")
}

# The Python binding's tests (python/tests) with a python3 that has torch
# (Debian's python3-torch: /usr/bin/python3); skipped, with the reason, where
# none has it.
run_python_tests() {
    local py="" cand log="$BUILD_DIR.python-test.log" ran ok skipped failures errors
    say "Python binding tests (unittest, torch)"
    for cand in /usr/bin/python3 python3; do
        if command -v "$cand" >/dev/null && "$cand" -c 'import torch' 2>/dev/null; then py="$cand"; break; fi
    done
    if [ -z "$py" ]; then
        echo "    skipped: no python3 with torch (install Debian's python3-torch)"
        SKIPPED=$((SKIPPED + 1)); return
    fi
    (cd "$ROOT/python" && ENGRAM_LIBRARY_PATH="$BUILD_DIR/lib" "$py" -m unittest discover -s tests -t . \
        >"$log" 2>&1) || true
    ran=$(grep -oE '^Ran [0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)
    skipped=$(grep -oE 'skipped=[0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)
    failures=$(grep -oE 'failures=[0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)
    errors=$(grep -oE 'errors=[0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)
    if [ "$ran" -eq 0 ]; then tail -20 "$log"; FAILED=$((FAILED + 1)); return; fi
    ok=$((ran - skipped - failures - errors))
    [ $((failures + errors)) -gt 0 ] && grep -E '^(FAIL|ERROR):' "$log" | head -20
    printf '    python: %d passed, %d failed, %d skipped\n' "$ok" $((failures + errors)) "$skipped"
    PASSED=$((PASSED + ok)); FAILED=$((FAILED + failures + errors)); SKIPPED=$((SKIPPED + skipped))
}

# The .NET packages as a user gets them: pack Engram and Engram.Cli into a local
# feed, restore and run samples/dotnet/CceSample from a clean folder (build output
# and three publish modes), install the CLI as a .NET tool (samples/dotnet/check_package.sh).
check_dotnet_package() {
    local line
    say "NuGet packages: pack, restore from a local feed, run the sample and the tool"
    while read -r line; do
        printf '    %s\n' "$line"
        case "$line" in ok\ *) PASSED=$((PASSED + 1)) ;; *) FAILED=$((FAILED + 1)) ;; esac
    done < <(bash "$ROOT/samples/dotnet/check_package.sh" "$ROOT" "$BUILD_DIR/lib" "$BUILD_DIR/dotnet-package")
}

# `./build.sh pack`: the NuGet packages (Engram, Engram.Cli as a .NET tool, symbols) in build/nuget.
pack_managed() {
    local proj
    for proj in managed/Engram/Engram.csproj managed/Engram.Cli/Engram.Cli.csproj; do
        dotnet pack "$ROOT/$proj" -c $CONFIG -o "$BUILD_DIR/nuget" -p:EngramNativeDir="$BUILD_DIR/lib" \
            -p:RepositoryCommit="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" -nologo -v quiet
    done
    ls -1 "$BUILD_DIR/nuget"
}

# One NUnit project: its counts join the totals. Default: tests/Engram.Tests ("managed");
# tests/Engram.Onnx.Tests ("onnx") runs the same way (run_dotnet_tests_all).
run_dotnet_tests() {  # [project dir] [label] [log]
    local project="${1:-$ROOT/tests/Engram.Tests}" label="${2:-managed}"
    say "$label tests (NUnit)"
    local log="${3:-$BUILD_DIR.dotnet-test.log}"
    ENGRAM_NATIVE_PATH="$BUILD_DIR/lib" ENGRAM_BENCH="$BUILD_DIR/bin/engram-bench" \
        dotnet test "$project" -c $CONFIG -p:EngramNativeDir="$BUILD_DIR/lib" \
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
    printf '    %s: %d passed, %d failed, %d skipped\n' "$label" "$p" "$f" "$s"
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))
}

# Every managed test project: the core layer, then Engram.Onnx (ONNX Runtime backbone, memory bank).
run_dotnet_tests_all() {
    run_dotnet_tests
    run_dotnet_tests "$ROOT/tests/Engram.Onnx.Tests" onnx "$BUILD_DIR.onnx-test.log"
}

# perf/gpu/check.sh --dry-run (tests/gpu_check): the GPU window script's
# logic without a GPU — steps, fallbacks, deadline, summary.json.
run_gpu_check_dry_run() {
    local log="$BUILD_DIR.gpu-check.log" p f
    say "GPU check script, dry run (tests/gpu_check)"
    python3 "$ROOT/tests/gpu_check/dry_run_test.py" >"$log" 2>&1 || true
    p=$(grep -c '^ok ' "$log" || true)
    f=$(grep -c '^FAIL ' "$log" || true)
    grep '^FAIL ' "$log" | head -10 | sed 's/^/    /' || true
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then tail -20 "$log"; f=1; fi
    printf '    gpu check dry run: %d passed, %d failed\n' "$p" "$f"
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
}

# The quick suite's ratio check against the committed baseline (perf/baselines/README.md):
# a quick engram-bench run (well under a minute), compared on in-run ratios only (engram
# time / naive time in the same run, which travel between machines and ignore how loaded
# the machine is) with a tolerance wide enough for a noisy 2-core machine. A 2x slowdown
# fails, noise does not (tests/Engram.Tests/BaselineCheckTests.cs, on recorded runs, reads
# the tolerance from the line below).
PERF_RATIO_TOLERANCE_PCT=50
PERF_QUICK_ARGS=(bench cce --shape n=512,v=8192,d=256 --dtype f32 --threads 2 --variants exact,fused
                 --reps 3 --max-reps 9 --budget 2 --warmup 1 --no-probes --samples 16)
run_perf_ratio_check() {
    local class="${ENGRAM_PERF_CLASS:-cpu-epyc-2c}" base new log rc
    base="$ROOT/perf/baselines/$class/quick-cce.json"
    new="$BUILD_DIR/perf-quick.json"
    log="$BUILD_DIR.perf-ratio.log"
    say "quick benchmark ratio check against perf/baselines/$class"
    if [ ! -f "$base" ]; then
        echo "    no baseline $base (ENGRAM_PERF_CLASS names a folder of perf/baselines)"; FAILED=$((FAILED + 1)); return
    fi
    if ! "$BUILD_DIR/bin/engram-bench" "${PERF_QUICK_ARGS[@]}" --json "$new" >"$log" 2>&1; then
        tail -20 "$log"; FAILED=$((FAILED + 1)); return
    fi
    rc=0
    engram_cli compare "$base" "$new" --ratios-only --tolerance "$PERF_RATIO_TOLERANCE_PCT" \
        --markdown "$BUILD_DIR.perf-ratio.md" >>"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        grep -E 'regression\(s\)' "$log" | tail -1 | sed 's/^/    /'
        PASSED=$((PASSED + 1))
    else
        grep -E 'REGRESSED|incomparable|engram:' "$log" | head -10 | sed 's/^/    /'
        echo "    perf ratio check failed (exit $rc); report: $BUILD_DIR.perf-ratio.md"
        FAILED=$((FAILED + 1))
    fi
}

test_all() {
    build_all
    run_ctest "$BUILD_DIR" "release"
    check_consumers
    if [ "${ENGRAM_SKIP_ASAN:-0}" != 1 ]; then
        build_asan
        ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest "$ASAN_DIR" "ASan + UBSan"
    fi
    if [ "${ENGRAM_SKIP_FUZZ:-0}" != 1 ]; then
        build_fuzz
        run_fuzz
    fi
    if [ "${ENGRAM_SKIP_TSAN:-0}" != 1 ]; then
        build_tsan
        TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
            run_ctest "$TSAN_DIR" "ThreadSanitizer, concurrency tests" -R "$TSAN_TESTS"
    fi
    run_python_tests
    run_gpu_check_dry_run
    run_dotnet_tests_all
    run_perf_ratio_check
    check_dotnet_package
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
    pack) build_all; pack_managed ;;
    overhead) build_all
        dotnet run -c $CONFIG --project "$ROOT/perf/managed/Engram.Overhead" -p:EngramNativeDir="$BUILD_DIR/lib" -- \
            --filter '*' --inProcess "$@" ;;
    clean) rm -rf "$BUILD_DIR" "$ASAN_DIR" "$FUZZ_DIR" "$TSAN_DIR" "$BUILD_DIR".*.log "$ASAN_DIR".*.log \
        "$FUZZ_DIR".*.log "$TSAN_DIR".*.log ;;
    -h|--help|help) sed -n '2,20p' "$0" ;;
    *) die "unknown command '$cmd' (build, test, run, bench, pack, overhead, prereqs, clean)" ;;
esac
