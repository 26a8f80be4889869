// attention_no_cuda.cpp — compiled in a build without CUDA: no CUDA attention.
#include "ops/attention/attention_backend.hpp"

namespace engram {

const AttentionBackend* attention_cuda_backend() { return nullptr; }

}  // namespace engram
