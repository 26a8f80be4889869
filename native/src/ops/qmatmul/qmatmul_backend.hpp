// qmatmul_backend.hpp — the 2-bit weight family's dispatch table: what each
// backend implements, with one contract (engram_qmatmul.h) for all of them.
// Inputs arrive validated (qmatmul_api.cpp).
#pragma once

#include "core/context.hpp"
#include "ops/qmatmul/qmatmul_problem.hpp"

namespace engram {

struct QmatmulBackend {
    void (*qmatmul)(engram_context& ctx, const QMatmulProblem& p);
    void (*quantize_rtn)(engram_context& ctx, const QuantizeProblem& p);
    // h: [k, k] fp32 (validated finite); iterations >= 0.
    void (*quantize_refine)(engram_context& ctx, const QuantizeProblem& p, const float* h,
                            int iterations);
    // Layout conversions (words of n_out x k codes).
    void (*pack)(engram_context& ctx, int64_t n_out, int64_t k, const uint8_t* codes,
                 uint32_t* words);
    void (*unpack)(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* words,
                   uint8_t* codes);
    void (*prepare)(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* plain,
                    uint32_t* prepared);
    void (*unprepare)(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* prepared,
                      uint32_t* plain);
};

const QmatmulBackend& qmatmul_cpu_backend();
// nullptr in a build without a CUDA implementation (qmatmul_no_cuda.cpp).
const QmatmulBackend* qmatmul_cuda_backend();

}  // namespace engram
