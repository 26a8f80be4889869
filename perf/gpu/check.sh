#!/usr/bin/env bash
# perf/gpu/check.sh — the whole GPU check in one command, for a lent GPU
# machine (nvcc, PyTorch, ncu, compute-sanitizer; maybe no cmake, ninja,
# GoogleTest or a gcc that nvcc accepts; no .NET, no network). From the repo root:
#
#   bash perf/gpu/check.sh              # results in $OUT (default ./gpu-out)
#   bash perf/gpu/check.sh --dry-run    # the same logic without a GPU (CI)
#
# A window is short, so the script cannot waste one: a global deadline
# (ENGRAM_GPU_DEADLINE, default 480 s) split into per-step budgets, the most
# valuable steps first, no step's failure stopping the next, and results
# written as they are produced:
#
#   preflight   driver, compute mode, nvcc (PATH, /usr/local/cuda*), a host
#               compiler nvcc accepts, cmake/ninja/make, GoogleTest
#   build       sm_<gpu> only (ENGRAM_CUDA_ARCHS overrides): libengram,
#               engram-bench, the CCE test programs; cmake with Ninja, else
#               Makefiles, else a direct nvcc/g++ build (no cmake at all)
#   bench       engram-bench --backend cuda at the Gemma-2-2B head, in three
#               runs; bench-gpu.json is rewritten after each
#   cuda_tests  every CUDA case of the test programs (a skipped case is a
#               failure); without GoogleTest, the Python binding's CUDA tests
#   torch       PyTorch's materialised loss at the same size, and the ratio
#   memcheck, racecheck, synccheck   compute-sanitizer on a tiny problem
#   ncu         one Nsight Compute pass over the forward and backward tiles
#
# $OUT/summary.json holds every step's status (pending, running, ok, failed,
# timeout, skipped, no_device), seconds and reason; it is rewritten at every
# change, so a run cut short still says how far it got. Exit status 0 only
# when every step passed (a dry run: when the summary was written).
#
# Environment: OUT, ENGRAM_GPU_DEADLINE (s), ENGRAM_GPU_QUICK=1 (smaller bench),
# ENGRAM_CUDA_ARCHS, ENGRAM_GPU_BUILD_DIR (default ./build-gpu),
# ENGRAM_GPU_SKIP="torch ncu ..." (steps to skip), ENGRAM_GTEST_SOURCE_DIR,
# ENGRAM_GPU_DRY_BUILD=1 (a dry run also builds, to test the build paths),
# ENGRAM_GPU_BUDGET_<step>=seconds (one step's budget, e.g. build on a slow machine),
# ENGRAM_GPU_ASSUME_DEVICE=1 (run the GPU steps without a GPU: tests their failure paths).
# No `set -e` or `set -u`: a failing command or an unset variable inside one
# step must never end the run (every step's result is checked explicitly).
set -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/perf/gpu"
DRY=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        -h|--help) sed -n '2,37p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "check.sh: unknown argument '$arg' (--dry-run, --help)" >&2; exit 2 ;;
    esac
done

OUT="${OUT:-$ROOT/gpu-out}"
mkdir -p "$OUT" || exit 2
OUT="$(cd "$OUT" && pwd)"
BUILD="${ENGRAM_GPU_BUILD_DIR:-$ROOT/build-gpu}"
DEADLINE="${ENGRAM_GPU_DEADLINE:-480}"
SKIP=" ${ENGRAM_GPU_SKIP:-} "
exec > >(tee -a "$OUT/check.log") 2>&1

source "$HERE/check_lib.sh"
source "$HERE/check_build.sh"
source "$HERE/check_steps.sh"

# Order = value: what a window must produce first. Budgets add up to the
# default deadline; a step gets min(budget, time left), and one that cannot
# get MIN_STEP seconds is skipped with the reason.
STEPS=(preflight build bench cuda_tests torch memcheck racecheck synccheck ncu)
declare -A BUDGET=([preflight]=30 [build]=165 [bench]=100 [cuda_tests]=60 [torch]=45
                   [memcheck]=25 [racecheck]=20 [synccheck]=15 [ncu]=20)
MIN_STEP=5
for s in "${STEPS[@]}"; do  # ENGRAM_GPU_BUDGET_<step>=seconds, e.g. for a slow CI build
    v="ENGRAM_GPU_BUDGET_$s"
    [[ "${!v:-}" =~ ^[0-9]+$ ]] && BUDGET[$s]=${!v}
done

summary_init
for s in "${STEPS[@]}"; do run_step "$s"; done
summary_finish
