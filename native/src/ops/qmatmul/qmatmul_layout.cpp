// qmatmul_layout.cpp — the 2-bit weight family's structs for engram_struct_layout.
#include "api/struct_layout.hpp"

namespace engram {

LayoutTable qmatmul_layout() {
    static const LayoutField fields[] = {
        ENGRAM_LAYOUT_SIZE(engram_qweight),
        ENGRAM_LAYOUT_FIELD(engram_qweight, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_qweight, code_dtype),
        ENGRAM_LAYOUT_FIELD(engram_qweight, scale_dtype),
        ENGRAM_LAYOUT_FIELD(engram_qweight, group_size),
        ENGRAM_LAYOUT_FIELD(engram_qweight, layout),
        ENGRAM_LAYOUT_FIELD(engram_qweight, reserved),
        ENGRAM_LAYOUT_FIELD(engram_qweight, n_out),
        ENGRAM_LAYOUT_FIELD(engram_qweight, k),
        ENGRAM_LAYOUT_FIELD(engram_qweight, codes),
        ENGRAM_LAYOUT_FIELD(engram_qweight, code_words),
        ENGRAM_LAYOUT_FIELD(engram_qweight, scales),
        ENGRAM_LAYOUT_FIELD(engram_qweight, zeros),
        ENGRAM_LAYOUT_SIZE(engram_onnx_nbits),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, bits),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, n),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, k),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, block_size),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, scale_dtype),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, zero_points_kind),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, reserved),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, b),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, b_bytes),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, scales),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, scale_bytes),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, zero_points),
        ENGRAM_LAYOUT_FIELD(engram_onnx_nbits, zero_point_bytes),
        ENGRAM_LAYOUT_SIZE(engram_bitstack),
        ENGRAM_LAYOUT_FIELD(engram_bitstack, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_bitstack, planes),
        ENGRAM_LAYOUT_FIELD(engram_bitstack, n_out),
        ENGRAM_LAYOUT_FIELD(engram_bitstack, k),
        ENGRAM_LAYOUT_FIELD(engram_bitstack, signs),
        ENGRAM_LAYOUT_FIELD(engram_bitstack, sign_words),
        ENGRAM_LAYOUT_FIELD(engram_bitstack, row_scales),
        ENGRAM_LAYOUT_FIELD(engram_bitstack, col_scales),
    };
    return LayoutTable{fields, sizeof fields / sizeof fields[0]};
}

}  // namespace engram
