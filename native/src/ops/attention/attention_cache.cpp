// attention_cache.cpp — storage of the attention KV cache (see the header for
// the slot layout).
#include "ops/attention/attention_cache.hpp"

#include <cstdlib>
#include <cstring>

#include "core/error.hpp"
#include "ops/attention/attention_storage.hpp"

using engram::AttentionHeadStore;

engram_attention_cache_handle::~engram_attention_cache_handle() { engram::attention_cache_clear(*this); }

namespace engram {

namespace {

uint64_t round64(uint64_t bytes) { return (bytes + 63) & ~uint64_t(63); }

uint64_t row_bytes(const AttentionCache& c) {
    return uint64_t(c.head_dim) * attention_elem_bytes(c.dtype);
}

void* alloc_host_rows(uint64_t bytes) {
    void* p = std::aligned_alloc(64, size_t(bytes));
    if (!p)
        fail(ENGRAM_ERR_OUT_OF_MEMORY,
             format("cannot allocate %llu bytes for the attention cache", (unsigned long long)bytes));
    return p;
}

void* alloc_rows(const AttentionCache& c, uint64_t bytes) {
    if (c.device >= 0) return attention_device_alloc(c.device, bytes);
    return alloc_host_rows(bytes);
}

void free_store(const AttentionCache& c, AttentionHeadStore& s) {
    if (c.device >= 0) {
        attention_device_free(c.device, s.k);
        attention_device_free(c.device, s.v);
    } else {
        std::free(s.k);
        std::free(s.v);
    }
    std::free(s.labels);  // Double Sparsity labels: host memory (CPU caches only)
    s = AttentionHeadStore{};
}

// Rows kept when a head's buffers grow. Device caches: reserve runs inside
// an op called with the cache's own context, so c.ctx is alive here.
void copy_rows(const AttentionCache& c, void* dst, const void* src, uint64_t bytes) {
    if (c.device >= 0)
        attention_device_copy(*c.ctx, dst, src, bytes);
    else
        std::memcpy(dst, src, size_t(bytes));
}

}  // namespace

uint64_t attention_elem_bytes(engram_dtype dtype) { return dtype == ENGRAM_DTYPE_F32 ? 4 : 2; }

bool attention_is_streaming(const AttentionCache& c, int32_t layer, int32_t head) {
    return c.policy[size_t(layer) * size_t(c.kv_heads) + size_t(head)] ==
           ENGRAM_ATTENTION_HEAD_STREAMING;
}

bool attention_layer_has_retrieval(const AttentionCache& c, int32_t layer) {
    for (int32_t h = 0; h < c.kv_heads; ++h)
        if (!attention_is_streaming(c, layer, h)) return true;
    return false;
}

int64_t attention_streaming_kept(const AttentionCache& c, int64_t length) {
    const int64_t sinks = length < c.sink ? length : c.sink;
    const int64_t rest = length - sinks;
    return sinks + (rest < c.window ? rest : c.window);
}

int64_t attention_max_slots(const AttentionCache& c, bool streaming) {
    return streaming ? int64_t(c.sink) + int64_t(c.window) : c.capacity;
}

int64_t attention_slot(const AttentionCache& c, bool streaming, int64_t p) {
    if (!streaming || p < c.sink) return p;
    return c.sink + (p - c.sink) % c.window;
}

void attention_cache_reserve(AttentionCache& c, int32_t layer, int64_t new_length) {
    const size_t base = size_t(layer) * size_t(c.kv_heads);
    const uint64_t rb = row_bytes(c);
    // Label rows (Double Sparsity) grow with the keys when the layer has them.
    const uint64_t label_row = c.label_r.empty() ? 0
                               : uint64_t(c.label_r[size_t(layer)]) * attention_elem_bytes(c.dtype);
    // Phase 1: allocate what must grow, keeping the old buffers.
    std::vector<AttentionHeadStore> grown(size_t(c.kv_heads));
    try {
        for (int32_t h = 0; h < c.kv_heads; ++h) {
            const bool streaming = attention_is_streaming(c, layer, h);
            const int64_t most = attention_max_slots(c, streaming);
            const int64_t need = new_length < most ? new_length : most;
            const AttentionHeadStore& old = c.heads[base + size_t(h)];
            if (need <= old.slots) continue;
            // Doubling keeps appends amortised O(1); at least 16 rows so that
            // token-by-token decoding does not reallocate on every step.
            int64_t slots = old.slots * 2;
            if (slots < 16) slots = 16;
            if (slots < need) slots = need;
            if (slots > most) slots = most;
            AttentionHeadStore& g = grown[size_t(h)];
            const uint64_t bytes = round64(uint64_t(slots) * rb);
            g.k = alloc_rows(c, bytes);
            g.v = alloc_rows(c, bytes);
            g.slots = slots;
            g.bytes = 2 * bytes;
            if (label_row > 0) {
                g.label_bytes = round64(uint64_t(slots) * label_row);
                g.labels = alloc_host_rows(g.label_bytes);
            }
        }
        // Copy the kept rows (a device copy can fail: still before commit).
        for (int32_t h = 0; h < c.kv_heads; ++h) {
            const AttentionHeadStore& g = grown[size_t(h)];
            const AttentionHeadStore& old = c.heads[base + size_t(h)];
            if (!g.k || old.slots == 0) continue;
            copy_rows(c, g.k, old.k, uint64_t(old.slots) * rb);
            copy_rows(c, g.v, old.v, uint64_t(old.slots) * rb);
        }
    } catch (...) {
        for (AttentionHeadStore& g : grown) free_store(c, g);
        throw;
    }
    // Phase 2: commit (nothing here can fail).
    for (int32_t h = 0; h < c.kv_heads; ++h) {
        AttentionHeadStore& g = grown[size_t(h)];
        if (!g.k) continue;
        AttentionHeadStore& old = c.heads[base + size_t(h)];
        if (g.labels && old.labels && old.slots > 0)
            std::memcpy(g.labels, old.labels, size_t(uint64_t(old.slots) * label_row));
        free_store(c, old);
        old = g;
    }
}

void attention_cache_clear(AttentionCache& c) {
    for (AttentionHeadStore& s : c.heads) free_store(c, s);
    for (int64_t& l : c.length) l = 0;
}

uint64_t attention_layer_bytes(const AttentionCache& c, int32_t layer, bool streaming_only) {
    uint64_t bytes = 0;
    for (int32_t h = 0; h < c.kv_heads; ++h)
        if (!streaming_only || attention_is_streaming(c, layer, h))
            bytes += c.heads[size_t(layer) * size_t(c.kv_heads) + size_t(h)].bytes;
    return bytes;
}

uint64_t attention_total_bytes(const AttentionCache& c) {
    uint64_t bytes = 0;
    for (const AttentionHeadStore& s : c.heads) bytes += s.bytes;
    return bytes;
}

int attention_query_segments(const AttentionCache& c, int32_t layer, int32_t head, int64_t cached,
                             int64_t pos, const void* chunk_k, const void* chunk_v,
                             AttentionSegment segs[kAttentionMaxSegments]) {
    const AttentionHeadStore& s = c.heads[size_t(layer) * size_t(c.kv_heads) + size_t(head)];
    const bool streaming = attention_is_streaming(c, layer, head);
    const uint64_t rb = row_bytes(c);
    int n = 0;
    auto cache_seg = [&](int64_t slot, int64_t count) {
        segs[n++] = AttentionSegment{static_cast<const char*>(s.k) + uint64_t(slot) * rb,
                                     static_cast<const char*>(s.v) + uint64_t(slot) * rb, count};
    };
    // Positions [a, b) in order: the cached part (contiguous rows, except a
    // window run that wraps the ring: two), then the chunk's part.
    auto add = [&](int64_t a, int64_t b) {
        const int64_t cb = b < cached ? b : cached;
        if (a < cb) {
            if (!streaming || a < c.sink) {
                cache_seg(a, cb - a);  // sinks and retrieval rows: slot = position
            } else {
                const int64_t start = c.sink + (a - c.sink) % c.window;
                const int64_t ring_end = int64_t(c.sink) + c.window;
                const int64_t part = cb - a < ring_end - start ? cb - a : ring_end - start;
                cache_seg(start, part);
                if (cb - a > part) cache_seg(c.sink, cb - a - part);
            }
        }
        const int64_t ca = a > cached ? a : cached;
        if (ca < b)
            segs[n++] = AttentionSegment{static_cast<const char*>(chunk_k) + uint64_t(ca - cached) * rb,
                                         static_cast<const char*>(chunk_v) + uint64_t(ca - cached) * rb,
                                         b - ca};
    };
    if (!streaming) {
        add(0, pos + 1);
        return n;
    }
    // Sinks [0, min(S, pos + 1)), then the window [max(S, pos - W + 1), pos + 1):
    // disjoint, since the window starts at S or later.
    add(0, pos + 1 < c.sink ? pos + 1 : c.sink);
    const int64_t first = pos + 1 - c.window > c.sink ? pos + 1 - c.window : c.sink;
    if (first <= pos) add(first, pos + 1);
    return n;
}

int attention_head_segments(const AttentionCache& c, int32_t layer, int32_t head,
                            AttentionSegment segs[kAttentionMaxSegments]) {
    const int64_t length = c.length[size_t(layer)];
    if (length == 0) return 0;
    return attention_query_segments(c, layer, head, length, length - 1, nullptr, nullptr, segs);
}

}  // namespace engram
