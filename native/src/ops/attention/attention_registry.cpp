// attention_registry.cpp — the attention family's ops and the cache storage
// dtypes each backend runs them with (CUDA: ops/attention/cuda/, the cache in
// device memory).
#include "api/op_registry.hpp"

namespace engram {

OpFamily attention_ops() {
    static const OpInfo ops[] = {
        {ENGRAM_OP_ATTENTION_CACHE_APPEND, "attention_cache_append", "attention", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_ATTENTION_DECODE, "attention_decode", "attention", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_ATTENTION_PREFILL, "attention_prefill", "attention", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_ATTENTION_DSPARSE_CALIBRATE, "attention_dsparse_calibrate", "attention", kFloatDtypes, 0},
        {ENGRAM_OP_ATTENTION_DSPARSE_DECODE, "attention_dsparse_decode", "attention", kFloatDtypes, 0},
    };
    return OpFamily{ops, sizeof ops / sizeof ops[0]};
}

}  // namespace engram
