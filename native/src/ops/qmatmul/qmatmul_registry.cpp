// qmatmul_registry.cpp — the 2-bit weight family's ops and the dtypes each
// backend runs them with (engram_qmatmul.h says which input is the "main"
// one). CUDA runs the product only (ops/qmatmul/cuda/): the quantizers and
// layout conversions are host-only.
#include "api/op_registry.hpp"
#include "engram_qmatmul.h"

namespace engram {

OpFamily qmatmul_ops() {
    static constexpr uint32_t kU2 = dtype_bit(ENGRAM_DTYPE_U2);
    static const OpInfo ops[] = {
        {ENGRAM_OP_QMATMUL, "qmatmul", "qmatmul", kFloatDtypes, kFloatDtypes},
        {ENGRAM_OP_QMATMUL_QUANTIZE_RTN, "qmatmul_quantize_rtn", "qmatmul", kFloatDtypes, 0},
        {ENGRAM_OP_QMATMUL_PACK, "qmatmul_pack", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_UNPACK, "qmatmul_unpack", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_PREPARE, "qmatmul_prepare", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_UNPREPARE, "qmatmul_unprepare", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_QUANTIZE_REFINE, "qmatmul_quantize_refine", "qmatmul", kFloatDtypes, 0},
        {ENGRAM_OP_QMATMUL_SAVE, "qmatmul_save", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_FILE_INFO, "qmatmul_file_info", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_LOAD, "qmatmul_load", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_IMPORT_ONNX, "qmatmul_import_onnx", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_EXPORT_ONNX, "qmatmul_export_onnx", "qmatmul", kU2, 0},
        {ENGRAM_OP_QMATMUL_BITSTACK_DECOMPOSE, "qmatmul_bitstack_decompose", "qmatmul", kFloatDtypes, 0},
        {ENGRAM_OP_QMATMUL_BITSTACK, "qmatmul_bitstack", "qmatmul", kFloatDtypes, 0},
    };
    return OpFamily{ops, sizeof ops / sizeof ops[0]};
}

}  // namespace engram
