// qmatmul_no_cuda.cpp — the family has no CUDA implementation yet (phase 2):
// a CUDA context gets ENGRAM_ERR_UNSUPPORTED from backend_table.
#include "ops/qmatmul/qmatmul_backend.hpp"

namespace engram {

const QmatmulBackend* qmatmul_cuda_backend() { return nullptr; }

}  // namespace engram
