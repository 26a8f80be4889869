// op_registry.hpp — every op of the library, with the dtypes each backend
// runs it with: what engram_op_supported, engram_op_list and the op names
// answer from. A family registers its table in op_registry.cpp (one line).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engram.h"

namespace engram {

struct OpInfo {
    engram_op op;
    const char* name;    // "cce_forward"
    const char* family;  // "cce"
    uint32_t cpu_dtypes;   // bit (1 << engram_dtype) per main input dtype
    uint32_t cuda_dtypes;  // same, when the CUDA backend is built
};

struct OpFamily {
    const OpInfo* ops;
    size_t count;
};

// Each family's table (defined in native/src/ops/<family>/).
OpFamily cce_ops();
OpFamily scan_ops();
OpFamily qmatmul_ops();
OpFamily attention_ops();

// nullptr for an unknown id.
const OpInfo* find_op(engram_op op);
// Every op, in id order.
std::vector<const OpInfo*> all_ops();

constexpr uint32_t dtype_bit(engram_dtype d) { return 1u << uint32_t(d); }
constexpr uint32_t kFloatDtypes =
    dtype_bit(ENGRAM_DTYPE_F32) | dtype_bit(ENGRAM_DTYPE_F16) | dtype_bit(ENGRAM_DTYPE_BF16);

}  // namespace engram
