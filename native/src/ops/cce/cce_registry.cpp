// cce_registry.cpp — the CCE family's ops and the dtypes each backend runs
// them with (the inputs' dtype: e, c and bias).
#include "api/op_registry.hpp"

namespace engram {

OpFamily cce_ops() {
    static const OpInfo ops[] = {
        {ENGRAM_OP_CCE_FORWARD, "cce_forward", "cce", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_CCE_BACKWARD, "cce_backward", "cce", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_CCE_FORWARD_BACKWARD, "cce_forward_backward", "cce", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_CCE_SHARD_FORWARD, "cce_shard_forward", "cce", kFloatDtypes, kFloatDtypes},
        // The combine step reads only fp32 statistics: its "dtype" is F32.
        {ENGRAM_OP_CCE_SHARD_COMBINE, "cce_shard_combine", "cce", dtype_bit(ENGRAM_DTYPE_F32),
         dtype_bit(ENGRAM_DTYPE_F32)},
    };
    return OpFamily{ops, sizeof ops / sizeof ops[0]};
}

}  // namespace engram
