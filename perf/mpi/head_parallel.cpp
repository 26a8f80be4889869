// head_parallel.cpp — see head_parallel.hpp.
#include "head_parallel.hpp"

#include <cstring>
#include <stdexcept>

#include "vocab_parallel.hpp"  // check(status, what)

namespace engram_mpi {

int64_t even_head_start(int64_t kv_heads, int ranks, int r) {
    const int64_t base = kv_heads / ranks, extra = kv_heads % ranks;
    return int64_t(r) * base + (r < extra ? r : extra);
}

namespace {

// The agreed fields in a fixed-size record every rank contributes; the
// policy travels as a checksum (FNV-1a of its flags) so the record stays small
// whatever the layer count.
struct Record {
    int64_t capacity, q_heads, kv_start, kv_count, policy_hash;
    int32_t dtype, layers, kv_heads, head_dim, sink_tokens, window, io_dtype, has_policy;
};

int64_t policy_hash(const std::vector<int32_t>& policy) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t p : policy) {
        h ^= uint32_t(p);
        h *= 1099511628211ull;
    }
    return int64_t(h >> 1);
}

Record record_of(const HeadShard& s) {
    Record r;
    std::memset(&r, 0, sizeof r);  // padding too: records are compared field by field
    r.capacity = s.global.capacity;
    r.q_heads = s.q_heads;
    r.kv_start = s.kv_start;
    r.kv_count = s.kv_count;
    r.policy_hash = policy_hash(s.policy);
    r.dtype = s.global.dtype;
    r.layers = s.global.layers;
    r.kv_heads = s.global.kv_heads;
    r.head_dim = s.global.head_dim;
    r.sink_tokens = s.global.sink_tokens;
    r.window = s.global.window;
    r.io_dtype = s.io_dtype;
    r.has_policy = s.policy.empty() ? 0 : 1;
    return r;
}

std::string disagreement(const std::vector<Record>& all) {
    const Record& a = all[0];
    for (size_t r = 1; r < all.size(); ++r) {
        const Record& b = all[r];
        auto differs = [&](const char* what, long long x, long long y) {
            return "rank " + std::to_string(r) + " has " + what + " = " + std::to_string(y) +
                   ", rank 0 has " + std::to_string(x);
        };
        if (b.layers != a.layers) return differs("layers", a.layers, b.layers);
        if (b.kv_heads != a.kv_heads) return differs("kv_heads", a.kv_heads, b.kv_heads);
        if (b.q_heads != a.q_heads) return differs("q_heads", a.q_heads, b.q_heads);
        if (b.head_dim != a.head_dim) return differs("head_dim", a.head_dim, b.head_dim);
        if (b.dtype != a.dtype) return differs("storage dtype", a.dtype, b.dtype);
        if (b.io_dtype != a.io_dtype) return differs("io dtype", a.io_dtype, b.io_dtype);
        if (b.sink_tokens != a.sink_tokens) return differs("sink_tokens", a.sink_tokens, b.sink_tokens);
        if (b.window != a.window) return differs("window", a.window, b.window);
        if (b.capacity != a.capacity) return differs("capacity", a.capacity, b.capacity);
        if (b.has_policy != a.has_policy || b.policy_hash != a.policy_hash)
            return "rank " + std::to_string(r) + " has another head policy than rank 0";
    }
    if (a.kv_heads <= 0 || a.q_heads <= 0 || a.q_heads % a.kv_heads != 0)
        return "q_heads = " + std::to_string(a.q_heads) + " is not a positive multiple of kv_heads = " +
               std::to_string(a.kv_heads);
    int64_t next = 0;  // the ranges must tile [0, kv_heads) in rank order
    for (size_t r = 0; r < all.size(); ++r) {
        if (all[r].kv_start != next || all[r].kv_count <= 0)
            return "rank " + std::to_string(r) + " holds KV heads [" + std::to_string(all[r].kv_start) + ", " +
                   std::to_string(all[r].kv_start + all[r].kv_count) + "), expected a range starting at " +
                   std::to_string(next) + " with at least one head";
        next += all[r].kv_count;
    }
    if (next != a.kv_heads)
        return "the ranks hold " + std::to_string(next) + " KV heads, kv_heads is " + std::to_string(a.kv_heads);
    return "";
}

}  // namespace

void check_agreement(Collectives& comm, const HeadShard& shard) {
    const Record mine = record_of(shard);
    std::vector<Record> all(size_t(comm.size()));
    comm.allgather_bytes(&mine, sizeof mine, all.data());
    std::string why = disagreement(all);
    // A policy of the wrong length is this rank's own error, but every rank
    // must throw: agree on it through the same record exchange.
    const bool bad_policy =
        !shard.policy.empty() &&
        int64_t(shard.policy.size()) != int64_t(shard.global.layers) * shard.global.kv_heads;
    int32_t flag = bad_policy ? 1 : 0;
    std::vector<int32_t> flags(size_t(comm.size()));
    comm.allgather_bytes(&flag, sizeof flag, flags.data());
    for (size_t r = 0; why.empty() && r < flags.size(); ++r)
        if (flags[r]) why = "rank " + std::to_string(r) + " has a policy of the wrong length";
    if (!why.empty()) throw std::runtime_error("head-parallel attention: " + why);
}

HeadParallelDecode::HeadParallelDecode(engram_context* ctx, Collectives& comm, const HeadShard& shard)
    : ctx_(ctx), comm_(comm), shard_(shard), group_(1) {
    check_agreement(comm, shard);
    group_ = shard.q_heads / shard.global.kv_heads;
    // Every rank's query-head count, for the all-gather: shared so no rank
    // computes another's range.
    q_heads_of_rank_.resize(size_t(comm.size()));
    const int64_t mine = shard.kv_count * group_;
    comm.allgather_bytes(&mine, sizeof mine, q_heads_of_rank_.data());

    engram_attention_cache_config local = shard.global;
    std::vector<int32_t> local_policy;
    if (!shard.policy.empty()) {
        for (int32_t l = 0; l < shard.global.layers; ++l)
            for (int64_t h = 0; h < shard.kv_count; ++h)
                local_policy.push_back(shard.policy[size_t(l * shard.global.kv_heads + shard.kv_start + h)]);
        local.policy = local_policy.data();
    } else {
        local.policy = nullptr;
    }
    local.kv_heads = int32_t(shard.kv_count);
    check(engram_attention_cache_create(ctx, &local, &cache_), "engram_attention_cache_create");
}

HeadParallelDecode::~HeadParallelDecode() { engram_attention_cache_destroy(cache_); }

void HeadParallelDecode::append(int32_t layer, int64_t tokens, const void* k, const void* v) {
    check(engram_attention_cache_append(ctx_, cache_, layer, tokens, shard_.io_dtype, k, v),
          "engram_attention_cache_append");
}

void HeadParallelDecode::gather(const void* local, int64_t per_q_head_bytes, void* all) {
    std::vector<int64_t> counts(q_heads_of_rank_.size());
    for (size_t r = 0; r < counts.size(); ++r) counts[r] = q_heads_of_rank_[r] * per_q_head_bytes;
    comm_.allgatherv_bytes(local, counts, all);
}

void HeadParallelDecode::decode(int32_t layer, const void* q_local, void* out_all,
                                const engram_attention_options* opts) {
    const int64_t row = int64_t(shard_.global.head_dim) * int64_t(engram_dtype_size(shard_.io_dtype));
    local_out_.resize(size_t(local_q_heads() * row));
    check(engram_attention_decode(ctx_, cache_, layer, local_q_heads(), shard_.io_dtype, q_local,
                                  local_out_.data(), opts),
          "engram_attention_decode");
    gather(local_out_.data(), row, out_all);
}

void HeadParallelDecode::prefill(int32_t layer, int64_t tokens, const void* q_local, const void* k,
                                 const void* v, void* out_all, const engram_attention_options* opts) {
    // out is [q_heads, tokens, D]: a query head's rows are contiguous, so the
    // ranks' blocks concatenate in head order as in decode.
    const int64_t rows = tokens * int64_t(shard_.global.head_dim) * int64_t(engram_dtype_size(shard_.io_dtype));
    local_out_.resize(size_t(local_q_heads() * rows));
    check(engram_attention_prefill(ctx_, cache_, layer, local_q_heads(), tokens, shard_.io_dtype, q_local, k,
                                   v, local_out_.data(), opts),
          "engram_attention_prefill");
    gather(local_out_.data(), rows, out_all);
}

uint64_t HeadParallelDecode::cache_bytes() const {
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    check(engram_attention_cache_get_info(ctx_, cache_, 0, &info), "engram_attention_cache_get_info");
    return info.total_bytes;
}

}  // namespace engram_mpi
