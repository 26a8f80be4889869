// attention_cuda.cpp — the CUDA build's attention table. Phase 1 has no CUDA
// kernels for the family yet (docs/attention.md): the table is absent, so
// a CUDA context gets ENGRAM_ERR_UNSUPPORTED from every attention entry point
// and engram_op_supported says so.
#include "ops/attention/attention_backend.hpp"

namespace engram {

const AttentionBackend* attention_cuda_backend() { return nullptr; }

}  // namespace engram
