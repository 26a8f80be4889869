// attention_registry.cpp — the attention family's ops and the cache storage
// dtypes each backend runs them with. Phase 1 has no CUDA implementation, so
// the CUDA dtypes are empty (engram_op_supported answers UNSUPPORTED).
#include "api/op_registry.hpp"

namespace engram {

OpFamily attention_ops() {
    static const OpInfo ops[] = {
        {ENGRAM_OP_ATTENTION_CACHE_APPEND, "attention_cache_append", "attention", kFloatDtypes, 0},
        {ENGRAM_OP_ATTENTION_DECODE, "attention_decode", "attention", kFloatDtypes, 0},
        {ENGRAM_OP_ATTENTION_PREFILL, "attention_prefill", "attention", kFloatDtypes, 0},
        {ENGRAM_OP_ATTENTION_DSPARSE_CALIBRATE, "attention_dsparse_calibrate", "attention", kFloatDtypes, 0},
        {ENGRAM_OP_ATTENTION_DSPARSE_DECODE, "attention_dsparse_decode", "attention", kFloatDtypes, 0},
    };
    return OpFamily{ops, sizeof ops / sizeof ops[0]};
}

}  // namespace engram
