// scan_registry.cpp — the scan family's ops and the dtypes each backend runs
// them with (q, k and v's dtype). CUDA: forward and decode (ops/scan/cuda/);
// the backward is CPU-only.
#include "api/op_registry.hpp"

namespace engram {

OpFamily scan_ops() {
    static const OpInfo ops[] = {
        {ENGRAM_OP_SCAN_LINEAR_FORWARD, "scan_linear_forward", "scan", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_SCAN_LINEAR_DECODE, "scan_linear_decode", "scan", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_SCAN_LINEAR_BACKWARD, "scan_linear_backward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_DELTA_FORWARD, "scan_delta_forward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_DELTA_DECODE, "scan_delta_decode", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_DELTA_BACKWARD, "scan_delta_backward", "scan", kFloatDtypes, 0},
        // Mixture-of-Memories (scan_mom_api.cpp): dtype of logits / rows / q, k, v.
        {ENGRAM_OP_SCAN_MOM_ROUTE, "scan_mom_route", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_MOM_GATHER, "scan_mom_gather", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_MOM_COMBINE, "scan_mom_combine", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_MOM_ROUTE_BACKWARD, "scan_mom_route_backward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_MOM_GATHER_BACKWARD, "scan_mom_gather_backward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_MOM_COMBINE_BACKWARD, "scan_mom_combine_backward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_MOM_DECODE, "scan_mom_decode", "scan", kFloatDtypes, 0},
        // BASED (scan_based_api.cpp)
        {ENGRAM_OP_SCAN_BASED_FEATURE_MAP, "scan_based_feature_map", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_BASED_FEATURE_MAP_BACKWARD, "scan_based_feature_map_backward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_BASED_FORWARD, "scan_based_forward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_SLIDING_WINDOW_FORWARD, "scan_sliding_window_forward", "scan", kFloatDtypes, 0},
        // Titans (scan_titans_api.cpp)
        {ENGRAM_OP_SCAN_TITANS_FORWARD, "scan_titans_forward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_TITANS_DECODE, "scan_titans_decode", "scan", kFloatDtypes, 0},
    };
    return OpFamily{ops, sizeof ops / sizeof ops[0]};
}

}  // namespace engram
