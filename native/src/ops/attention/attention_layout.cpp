// attention_layout.cpp — the attention structs for engram_struct_layout.
#include "api/struct_layout.hpp"

namespace engram {

LayoutTable attention_layout() {
    static const LayoutField fields[] = {
        ENGRAM_LAYOUT_SIZE(engram_attention_cache_config),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, dtype),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, layers),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, kv_heads),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, head_dim),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, sink_tokens),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, window),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, reserved),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, capacity),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_config, policy),
        ENGRAM_LAYOUT_SIZE(engram_attention_cache_info),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, layer),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, length),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, retrieval_tokens),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, streaming_tokens),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, retrieval_heads),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, streaming_heads),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, layer_bytes),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, layer_streaming_bytes),
        ENGRAM_LAYOUT_FIELD(engram_attention_cache_info, total_bytes),
        ENGRAM_LAYOUT_SIZE(engram_attention_options),
        ENGRAM_LAYOUT_FIELD(engram_attention_options, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_attention_options, scale),
        ENGRAM_LAYOUT_SIZE(engram_attention_dsparse_options),
        ENGRAM_LAYOUT_FIELD(engram_attention_dsparse_options, struct_size),
        ENGRAM_LAYOUT_FIELD(engram_attention_dsparse_options, scale),
        ENGRAM_LAYOUT_FIELD(engram_attention_dsparse_options, recent),
    };
    return LayoutTable{fields, sizeof fields / sizeof fields[0]};
}

}  // namespace engram
