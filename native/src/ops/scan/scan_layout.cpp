// scan_layout.cpp — the scan structs for engram_struct_layout.
#include "api/struct_layout.hpp"

namespace engram {

LayoutTable scan_layout() {
    static const LayoutField fields[] = {
        ENGRAM_LAYOUT_SIZE(engram_scan_options),
        ENGRAM_LAYOUT_FIELD(engram_scan_options, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_scan_options, chunk_size),
        ENGRAM_LAYOUT_FIELD(engram_scan_options, scale),
        ENGRAM_LAYOUT_FIELD(engram_scan_options, output_dtype),
        ENGRAM_LAYOUT_SIZE(engram_scan_inputs),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, dtype),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, gate),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, reserved),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, batch),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, t),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, heads),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, qk_heads),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, k_dim),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, v_dim),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, q),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, k),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, v),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, g),
        ENGRAM_LAYOUT_FIELD(engram_scan_inputs, initial_state),
        ENGRAM_LAYOUT_SIZE(engram_scan_grads),
        ENGRAM_LAYOUT_FIELD(engram_scan_grads, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_scan_grads, dtype),
        ENGRAM_LAYOUT_FIELD(engram_scan_grads, dq),
        ENGRAM_LAYOUT_FIELD(engram_scan_grads, dk),
        ENGRAM_LAYOUT_FIELD(engram_scan_grads, dv),
        ENGRAM_LAYOUT_FIELD(engram_scan_grads, dg),
        ENGRAM_LAYOUT_FIELD(engram_scan_grads, d_initial_state),
    };
    return LayoutTable{fields, sizeof fields / sizeof fields[0]};
}

}  // namespace engram
