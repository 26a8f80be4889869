// cce_layout.cpp — the CCE structs for engram_struct_layout.
#include "api/struct_layout.hpp"

namespace engram {

LayoutTable cce_layout() {
    static const LayoutField fields[] = {
        ENGRAM_LAYOUT_SIZE(engram_cce_options),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, reduction),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, ignore_index),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, softcap),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, label_smoothing),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, z_loss),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, filter_eps),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, check_targets),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, reserved),
        ENGRAM_LAYOUT_FIELD(engram_cce_options, scratch_bytes),
        ENGRAM_LAYOUT_SIZE(engram_cce_inputs),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, dtype),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, target_dtype),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, reserved),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, n),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, d),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, v),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, vocab_start),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, vocab_total),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, e),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, c),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, bias),
        ENGRAM_LAYOUT_FIELD(engram_cce_inputs, targets),
        ENGRAM_LAYOUT_SIZE(engram_cce_grads),
        ENGRAM_LAYOUT_FIELD(engram_cce_grads, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_cce_grads, dtype),
        ENGRAM_LAYOUT_FIELD(engram_cce_grads, grad_e),
        ENGRAM_LAYOUT_FIELD(engram_cce_grads, grad_c),
        ENGRAM_LAYOUT_FIELD(engram_cce_grads, grad_bias),
    };
    return LayoutTable{fields, sizeof fields / sizeof fields[0]};
}

}  // namespace engram
