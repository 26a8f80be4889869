// scan_no_cuda.cpp — compiled instead of ops/scan/cuda/ in a build without
// CUDA. (Phase 1 has no CUDA kernels: see scan_cuda_backend in docs/scan.md.)
#include "ops/scan/scan_backend.hpp"

namespace engram {

const ScanBackend* scan_cuda_backend() { return nullptr; }

}  // namespace engram
