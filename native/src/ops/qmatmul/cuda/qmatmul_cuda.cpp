// qmatmul_cuda.cpp — the 2-bit weight family has no CUDA kernels yet (phase 2:
// kernels/qmatmul/, W2A16 GEMV/GEMM). In a CUDA build this stands where
// qmatmul_no_cuda.cpp stands otherwise, so a CUDA context gets
// ENGRAM_ERR_UNSUPPORTED and engram_op_supported says so (registry: no CUDA
// dtypes).
#include "ops/qmatmul/qmatmul_backend.hpp"

namespace engram {

const QmatmulBackend* qmatmul_cuda_backend() { return nullptr; }

}  // namespace engram
