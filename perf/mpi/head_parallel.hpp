// head_parallel.hpp — head-parallel decode attention over a distributed
// engine (docs/head-parallel.md): the KV heads of every layer are split over
// the ranks in contiguous ranges (the first H_kv % R ranks hold one more),
// each rank keeps an engram KV cache of its own heads only, and query head h
// goes with KV head h / G (G = H_q / H_kv, as the cache's GQA rule), so a
// rank's query heads are a contiguous range too. Attention never mixes heads:
// a decode step is the local decode plus one all-gather of the [H_q, D]
// output, and equals one process bit for bit (each head is reduced by one
// worker in token order, the same on every rank; see engram_attention.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collectives.hpp"
#include "engram.h"

namespace engram_mpi {

// What every rank must agree on, and the KV heads this rank holds.
struct HeadShard {
    engram_attention_cache_config global;  // the whole layer's cache: kv_heads = H_kv in all
    std::vector<int32_t> policy;           // [layers * H_kv] of the whole cache (empty = all retrieval)
    int64_t q_heads = 0;                   // H_q in all, a multiple of H_kv
    int64_t kv_start = 0, kv_count = 0;    // this rank's KV heads [kv_start, kv_start + kv_count)
    engram_dtype io_dtype = ENGRAM_DTYPE_F32;  // q, k, v and out of the calls
};

// KV head range of rank r when kv_heads are split as evenly as possible.
int64_t even_head_start(int64_t kv_heads, int ranks, int r);

// Throws std::runtime_error naming the first disagreement (same message on
// every rank): configs, policies, H_q, dtypes, or ranges that do not tile
// [0, H_kv) in rank order, or a rank with no head.
void check_agreement(Collectives& comm, const HeadShard& shard);

class HeadParallelDecode {
public:
    // Checks the agreement collectively, then creates this rank's cache.
    HeadParallelDecode(engram_context* ctx, Collectives& comm, const HeadShard& shard);
    ~HeadParallelDecode();
    HeadParallelDecode(const HeadParallelDecode&) = delete;
    HeadParallelDecode& operator=(const HeadParallelDecode&) = delete;

    // This rank's heads only: k, v [kv_count, tokens, D] of io_dtype.
    void append(int32_t layer, int64_t tokens, const void* k, const void* v);
    // q_local [kv_count * G, D] (this rank's query heads); out_all [H_q, D],
    // the whole layer's output, the same on every rank after the call.
    void decode(int32_t layer, const void* q_local, void* out_all, const engram_attention_options* opts);
    // Chunked prefill of this rank's heads: q_local [kv_count * G, tokens, D],
    // k, v [kv_count, tokens, D]; out_all [H_q, tokens, D].
    void prefill(int32_t layer, int64_t tokens, const void* q_local, const void* k, const void* v,
                 void* out_all, const engram_attention_options* opts);

    int64_t local_q_heads() const { return shard_.kv_count * group_; }
    uint64_t cache_bytes() const;  // this rank's KV bytes (all layers)
    uint64_t bytes_sent() const { return comm_.bytes_sent(); }

private:
    void gather(const void* local, int64_t per_q_head_bytes, void* all);

    engram_context* ctx_;
    Collectives& comm_;
    HeadShard shard_;
    int64_t group_;
    std::vector<int64_t> q_heads_of_rank_;
    engram_attention_cache* cache_ = nullptr;
    std::vector<unsigned char> local_out_;
};

}  // namespace engram_mpi
