#!/usr/bin/env bash
# perf/gpu/check.sh — the whole GPU check in one command, for a lent GPU
# machine (nvcc 13, CMake, PyTorch; no .NET, no network). Run from the repo root:
#
#   bash perf/gpu/check.sh            # logs and JSON go to $OUT (default ./gpu-out)
#
# Steps, each with its own time limit so the whole stays under ten minutes:
#   1. build libengram + native tests + engram-bench with the machine's nvcc
#      (GoogleTest from the system, or from .deps/googletest when carried:
#       cp -r /usr/src/googletest .deps/ on a Debian machine, then carry .deps);
#   2. native tests (the CUDA cases run here; CPU cases too), JUnit to $OUT;
#   3. compute-sanitizer memcheck on the CUDA CCE tests;
#   4. engram-bench --backend cuda at the Gemma-2-2B head (N=8192, V=256000,
#      D=2304, bf16): engram variants vs the naive cuBLAS method;
#   5. PyTorch's materialised cross-entropy at the same size (torch_cce.py).
# Environment: ENGRAM_GPU_QUICK=1 (smaller benchmark), ENGRAM_CUDA_ARCHS,
# ENGRAM_GPU_SKIP="sanitizer torch" (steps to skip).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/gpu-out}"
mkdir -p "$OUT"
BUILD="$ROOT/build-gpu"
SKIP="${ENGRAM_GPU_SKIP:-}"
exec > >(tee -a "$OUT/check.log") 2>&1

step() { printf '\n==> [%s] %s\n' "$(date +%T)" "$*"; }
skipped() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
status=0

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || status=1
nvcc --version | tail -2
cmake --version | head -1
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' || true

step "build (nvcc, Release)"
gtest=()
[ -d "$ROOT/.deps/googletest" ] && gtest=(-DENGRAM_GTEST_SOURCE_DIR="$ROOT/.deps/googletest")
archs="${ENGRAM_CUDA_ARCHS:-80-real;90-real;90-virtual}"
timeout 300 cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DENGRAM_WITH_CUDA=ON \
    -DENGRAM_CUDA_ARCHS="$archs" "${gtest[@]}" >"$OUT/configure.log" 2>&1 \
    || { tail -30 "$OUT/configure.log"; echo "configure failed"; exit 1; }
grep -E '^-- engram' "$OUT/configure.log"
timeout 420 cmake --build "$BUILD" -j"$(nproc)" >"$OUT/build.log" 2>&1 \
    || { grep -E 'error' -A3 "$OUT/build.log" | head -60; echo "build failed"; exit 1; }
echo "built: $(ls "$BUILD/bin" | tr '\n' ' ')"

step "native tests (CUDA and CPU cases)"
if [ -d "$BUILD/tests/native" ]; then
    timeout 300 ctest --test-dir "$BUILD" -j8 --output-on-failure --output-junit "$OUT/ctest-gpu.xml" \
        >"$OUT/ctest.log" 2>&1 || status=1
    grep -E 'tests passed|tests failed|\(Failed\)|\(Timeout\)' "$OUT/ctest.log" | tail -20
    grep -o 'skipped="[0-9]*"' "$OUT/ctest-gpu.xml" 2>/dev/null | head -1
else
    echo "no native tests built (GoogleTest missing: carry .deps/googletest)"
fi

if ! skipped sanitizer && command -v compute-sanitizer >/dev/null && [ -x "$BUILD/bin/engram_cce_test" ]; then
    step "compute-sanitizer memcheck on the CUDA CCE cases"
    timeout 180 compute-sanitizer --tool memcheck --error-exitcode 99 \
        "$BUILD/bin/engram_cce_test" --gtest_filter='*Cuda*:*CUDA*:*cuda*' --gtest_brief=1 \
        >"$OUT/sanitizer.log" 2>&1
    rc=$?
    tail -5 "$OUT/sanitizer.log"
    [ $rc -eq 0 ] || { echo "compute-sanitizer: exit $rc"; status=1; }
fi

size=(--n 8192 --v 256000 --d 2304)
[ "${ENGRAM_GPU_QUICK:-0}" = 1 ] && size=(--n 4096 --v 65536 --d 2048)
step "engram-bench --backend cuda ${size[*]} bf16"
timeout 300 "$BUILD/bin/engram-bench" cce --backend cuda "${size[@]}" --dtype bf16 --reps 5 --warmup 2 \
    --samples 8 --json "$OUT/bench-gpu.json" || status=1

if ! skipped torch; then
    step "PyTorch materialised cross-entropy, same size"
    timeout 240 python3 "$ROOT/perf/gpu/torch_cce.py" "${size[@]}" --dtype bf16 --reps 5 --warmup 2 \
        --out "$OUT/torch-gpu.json" || status=1
fi

step "done (status $status); files in $OUT:"
ls -la "$OUT"
exit $status
