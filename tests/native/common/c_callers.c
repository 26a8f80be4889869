/* c_callers.c — see c_callers.h. Compiled as C (C99), which also checks that
   engram.h is a valid C header. */
#include "c_callers.h"

#include <string.h>

engram_status c_context_create(int32_t backend, int32_t device, engram_context** out) {
    return engram_context_create((engram_backend)backend, device, out);
}

size_t c_dtype_size(int32_t dtype) { return engram_dtype_size((engram_dtype)dtype); }

const char* c_status_string(int32_t status) { return engram_status_string((engram_status)status); }

engram_status c_shard_combine(engram_context* ctx, int64_t n, int64_t num_shards,
                              int64_t vocab_total, const float* shard_lse,
                              const float* target_logit, const float* logit_sum,
                              const void* targets, int32_t target_dtype,
                              const engram_cce_options* opts, float* loss, float* lse) {
    return engram_cce_shard_combine(ctx, n, num_shards, vocab_total, shard_lse, target_logit,
                                    logit_sum, targets, (engram_dtype)target_dtype, opts, loss, lse);
}

uint64_t c_sizeof(const char* name) {
    if (strcmp(name, "engram_capabilities") == 0) return sizeof(engram_capabilities);
    if (strcmp(name, "engram_device_info") == 0) return sizeof(engram_device_info);
    if (strcmp(name, "engram_memory_stats") == 0) return sizeof(engram_memory_stats);
    if (strcmp(name, "engram_op_stats") == 0) return sizeof(engram_op_stats);
    if (strcmp(name, "engram_op_counter") == 0) return sizeof(engram_op_counter);
    if (strcmp(name, "engram_cce_options") == 0) return sizeof(engram_cce_options);
    if (strcmp(name, "engram_cce_inputs") == 0) return sizeof(engram_cce_inputs);
    if (strcmp(name, "engram_cce_grads") == 0) return sizeof(engram_cce_grads);
    return 0;
}
