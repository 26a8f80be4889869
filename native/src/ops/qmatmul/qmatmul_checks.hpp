// qmatmul_checks.hpp — the 2-bit weight family's argument checks, shared by
// its entry-point files (qmatmul_api.cpp defines them; qmatmul_file_api.cpp,
// qmatmul_onnx_api.cpp and qmatmul_bitstack_api.cpp use them). Each throws
// engram::Error with a message naming the argument.
#pragma once

#include <cstdint>
#include <vector>

#include "api/tensor_checks.hpp"
#include "ops/qmatmul/qmatmul_backend.hpp"
#include "ops/qmatmul/qmatmul_problem.hpp"

namespace engram {

// The family's backend table for the context (UNSUPPORTED on CUDA here).
const QmatmulBackend& qmatmul_backend_of(const engram_context& ctx);
// Every field of w; its tensors' spans (inputs) are appended to `spans`.
QWeight qmatmul_validate_weight(engram_context& ctx, const engram_qweight* w,
                                std::vector<TensorSpan>& spans);
// F32 or F16 (UNSUPPORTED otherwise).
void qmatmul_require_scale_dtype(int32_t dtype, const char* name);
// 32, 64 or 128, dividing k.
void qmatmul_require_group(int64_t group, int64_t k, const char* group_name, const char* k_name);
engram_qlayout qmatmul_require_layout(int32_t layout, const char* name);
// got == expected words, else "name = got, expected E words for <what>".
void qmatmul_require_words(uint64_t got, uint64_t expected, const char* name, const char* what);

}  // namespace engram
