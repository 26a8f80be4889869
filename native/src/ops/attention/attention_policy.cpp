// attention_policy.cpp — per-head policies from a pattern (DuoAttention):
// parse the pattern JSON (attention_policy_json.cpp), choose streaming heads
// by a sparsity ratio over the scores or by a 0.5 threshold, and set them on
// an empty cache. Every check runs before the policy is replaced, so a failed
// call leaves the cache as it was.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/attention/attention_checks.hpp"
#include "ops/attention/attention_policy_json.hpp"

using namespace engram;

namespace {

constexpr int64_t kMaxPatternBytes = int64_t(64) << 20;

void require_empty(const AttentionCache& a) {
    for (int32_t l = 0; l < a.layers; ++l)
        if (a.length[size_t(l)] != 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("cache is not empty (layer %d holds %lld tokens): set the policy after "
                        "create or reset", l, (long long)a.length[size_t(l)]));
}

void require_sparsity(float sparsity, bool threshold_allowed) {
    if (threshold_allowed && sparsity == ENGRAM_ATTENTION_PATTERN_THRESHOLD) return;
    if (!(sparsity >= 0.0f && sparsity <= 1.0f))
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("sparsity = %g is outside [0, 1]%s", double(sparsity),
                    threshold_allowed ? " (or ENGRAM_ATTENTION_PATTERN_THRESHOLD = -1)" : ""));
}

// Policy flags from scores: the round(sparsity * n) lowest stream (ties: the
// lower index first), or with sparsity = THRESHOLD those below 0.5.
std::vector<int32_t> policy_from_scores(const float* scores, int64_t n, float sparsity) {
    std::vector<int32_t> policy(static_cast<size_t>(n), ENGRAM_ATTENTION_HEAD_RETRIEVAL);
    if (sparsity == ENGRAM_ATTENTION_PATTERN_THRESHOLD) {
        for (int64_t i = 0; i < n; ++i)
            if (scores[i] < 0.5f) policy[size_t(i)] = ENGRAM_ATTENTION_HEAD_STREAMING;
        return policy;
    }
    const int64_t streaming = int64_t(std::floor(double(sparsity) * double(n) + 0.5));
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t(0));
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
    for (int64_t i = 0; i < streaming; ++i) policy[size_t(order[size_t(i)])] = ENGRAM_ATTENTION_HEAD_STREAMING;
    return policy;
}

void check_scores(const float* scores, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(scores[i]))
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("scores[%lld] = %g is not finite", (long long)i, double(scores[i])));
}

std::string read_pattern_file(const char* path) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\" cannot be opened: %s", path, std::strerror(errno)));
    std::string text;
    char buf[65536];
    size_t got;
    bool too_big = false;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) {
        if (int64_t(text.size() + got) > kMaxPatternBytes) {
            too_big = true;
            break;
        }
        text.append(buf, got);
    }
    const bool read_error = std::ferror(f) != 0;
    std::fclose(f);
    if (too_big)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\" is larger than %lld bytes: not a pattern file", path,
                    (long long)kMaxPatternBytes));
    if (read_error)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, format("path = \"%s\" could not be read", path));
    return text;
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_attention_pattern_parse(const char* text, int64_t bytes,
                                                        int32_t layers, int32_t kv_heads,
                                                        float* scores, int64_t count) {
    return guard(__func__, [&] {
        require_not_null(text, "text");
        attention_require_range(bytes, 0, kMaxPatternBytes, "bytes");
        require_dim(layers, "layers");
        require_dim(kv_heads, "kv_heads");
        require_not_null(scores, "scores");
        require_aligned(scores, 4, "scores");
        const int64_t heads = int64_t(layers) * kv_heads;
        if (count != heads)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("count = %lld, but layers * kv_heads = %d * %d = %lld", (long long)count,
                        layers, kv_heads, (long long)heads));
        checked_bytes(count, 1, 4, "scores [layers * kv_heads]");
        require_disjoint({{text, uint64_t(bytes), "text", false},
                          {scores, uint64_t(count) * 4, "scores", true}});
        const std::vector<float> s = attention_parse_pattern(text, bytes, layers, kv_heads);
        std::memcpy(scores, s.data(), s.size() * sizeof(float));
    });
}

ENGRAM_API engram_status engram_attention_cache_set_policy_by_ratio(engram_context* ctx,
                                                                    engram_attention_cache* cache,
                                                                    const float* scores,
                                                                    int64_t count, float sparsity) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        std::lock_guard<std::mutex> lock(c.mutex);
        AttentionCache& a = attention_require_cache(c, cache);
        require_not_null(scores, "scores");
        const int64_t heads = int64_t(a.layers) * a.kv_heads;
        if (count != heads)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("count = %lld, but the cache has layers * kv_heads = %d * %d = %lld heads",
                        (long long)count, a.layers, a.kv_heads, (long long)heads));
        require_aligned(scores, 4, "scores");
        attention_check_host(scores, "scores");
        check_scores(scores, count);
        require_sparsity(sparsity, false);
        require_empty(a);
        a.policy = policy_from_scores(scores, count, sparsity);
    });
}

ENGRAM_API engram_status engram_attention_cache_load_pattern(engram_context* ctx,
                                                             engram_attention_cache* cache,
                                                             const char* path, float sparsity) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        std::lock_guard<std::mutex> lock(c.mutex);
        AttentionCache& a = attention_require_cache(c, cache);
        require_not_null(path, "path");
        require_sparsity(sparsity, true);
        require_empty(a);
        const std::string text = read_pattern_file(path);
        const std::vector<float> s =
            attention_parse_pattern(text.data(), int64_t(text.size()), a.layers, a.kv_heads);
        a.policy = policy_from_scores(s.data(), int64_t(s.size()), sparsity);
    });
}

}  // extern "C"
