// scan_registry.cpp — the scan family's ops and the dtypes each backend runs
// them with (q, k and v's dtype). No CUDA implementation yet: no CUDA dtypes.
#include "api/op_registry.hpp"

namespace engram {

OpFamily scan_ops() {
    static const OpInfo ops[] = {
        {ENGRAM_OP_SCAN_LINEAR_FORWARD, "scan_linear_forward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_LINEAR_DECODE, "scan_linear_decode", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_LINEAR_BACKWARD, "scan_linear_backward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_DELTA_FORWARD, "scan_delta_forward", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_DELTA_DECODE, "scan_delta_decode", "scan", kFloatDtypes, 0},
        {ENGRAM_OP_SCAN_DELTA_BACKWARD, "scan_delta_backward", "scan", kFloatDtypes, 0},
    };
    return OpFamily{ops, sizeof ops / sizeof ops[0]};
}

}  // namespace engram
