/* c_callers.h — engram entry points called from C, with enum arguments passed
   as plain ints. C callers (and P/Invoke) may pass any int where engram.h has
   an enum; converting such a value to the enum in C++ would itself be
   undefined, so the tests hand them over here. */
#ifndef ENGRAM_TEST_C_CALLERS_H
#define ENGRAM_TEST_C_CALLERS_H

#include "engram.h"

#ifdef __cplusplus
extern "C" {
#endif

engram_status c_context_create(int32_t backend, int32_t device, engram_context** out);
size_t c_dtype_size(int32_t dtype);
const char* c_status_string(int32_t status);
engram_status c_shard_combine(engram_context* ctx, int64_t n, int64_t num_shards,
                              int64_t vocab_total, const float* shard_lse,
                              const float* target_logit, const float* logit_sum,
                              const void* targets, int32_t target_dtype,
                              const engram_cce_options* opts, float* loss, float* lse);
/* sizeof of the ABI structs as a C compiler lays them out. */
uint64_t c_sizeof(const char* struct_name);

#ifdef __cplusplus
}
#endif

#endif
