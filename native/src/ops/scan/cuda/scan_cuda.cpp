// scan_cuda.cpp — the scan family in a CUDA build. Phase 1 has no CUDA kernels
// for it (docs/scan.md): the table is absent, so a CUDA context gets
// ENGRAM_ERR_UNSUPPORTED naming the family, and the registry lists no CUDA
// dtypes for its ops.
#include "ops/scan/scan_backend.hpp"

namespace engram {

const ScanBackend* scan_cuda_backend() { return nullptr; }

}  // namespace engram
