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
    };
    return LayoutTable{fields, sizeof fields / sizeof fields[0]};
}

}  // namespace engram
