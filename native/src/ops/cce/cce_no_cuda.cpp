// cce_no_cuda.cpp — compiled instead of ops/cce/cuda/ in a build without CUDA.
#include "ops/cce/cce_backend.hpp"

namespace engram {

const CceBackend* cce_cuda_backend() { return nullptr; }

}  // namespace engram
