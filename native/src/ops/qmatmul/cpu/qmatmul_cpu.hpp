// qmatmul_cpu.hpp — the CPU implementations behind the family's table
// (qmatmul_cpu.cpp: product and table; qmatmul_quantize.cpp: RTN;
// qmatmul_refine.cpp: decoupleQ refinement; qmatmul_pack.cpp: layout
// conversions).
#pragma once

#include "ops/qmatmul/qmatmul_backend.hpp"

namespace engram::cpu {

void qmatmul_product(engram_context& ctx, const QMatmulProblem& p);
void qmatmul_quantize_rtn(engram_context& ctx, const QuantizeProblem& p);
void qmatmul_quantize_refine(engram_context& ctx, const QuantizeProblem& p, const float* h,
                             int iterations);
void qmatmul_pack(engram_context& ctx, int64_t n_out, int64_t k, const uint8_t* codes,
                  uint32_t* words);
void qmatmul_unpack(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* words,
                    uint8_t* codes);
void qmatmul_prepare(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* plain,
                     uint32_t* prepared);
void qmatmul_unprepare(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* prepared,
                       uint32_t* plain);

// Splits [0, count) into `parts` contiguous ranges, part t getting
// [t * count / parts, (t + 1) * count / parts): a static assignment, so which
// thread computes what never depends on timing.
inline void static_range(int64_t count, int parts, int t, int64_t& begin, int64_t& end) {
    begin = count * t / parts;
    end = count * (t + 1) / parts;
}

}  // namespace engram::cpu
