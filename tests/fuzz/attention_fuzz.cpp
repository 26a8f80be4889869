// attention_fuzz.cpp — see attention_fuzz.hpp.
#include "attention_fuzz.hpp"
#include "attention_sparse_fuzz.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "ops/attention/reference/attention_reference.hpp"
#include "shared/half.h"

namespace fuzz {

namespace {

float round_to(int32_t dtype, float x) {
    if (dtype == ENGRAM_DTYPE_BF16) return engram::bf16_to_f32(engram::f32_to_bf16(x));
    if (dtype == ENGRAM_DTYPE_F16) return engram::f16_to_f32(engram::f32_to_f16(x));
    return x;
}

std::vector<uint8_t> encode(int32_t dtype, const std::vector<float>& v) {
    std::vector<uint8_t> b(v.size() * (dtype == ENGRAM_DTYPE_F32 ? 4 : 2));
    for (size_t i = 0; i < v.size(); ++i) {
        if (dtype == ENGRAM_DTYPE_F32) {
            std::memcpy(&b[i * 4], &v[i], 4);
        } else {
            const uint16_t h = dtype == ENGRAM_DTYPE_BF16 ? engram::f32_to_bf16(v[i]) : engram::f32_to_f16(v[i]);
            std::memcpy(&b[i * 2], &h, 2);
        }
    }
    return b;
}

float decode_one(int32_t dtype, const uint8_t* p) {
    if (dtype == ENGRAM_DTYPE_F32) {
        float f;
        std::memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, p, 2);
    return dtype == ENGRAM_DTYPE_BF16 ? engram::bf16_to_f32(h) : engram::f16_to_f32(h);
}

// A second context, for the wrong-context faults (made once: pools are slow to start).
engram_context* other_context() {
    static engram_context* other = [] {
        engram_context* c = nullptr;
        FUZZ_CHECK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &c) == ENGRAM_OK, "context: %s",
                   engram_last_error());
        return c;
    }();
    return other;
}

struct Model {
    engram_attention_cache_config cfg{};
    std::vector<int32_t> policy;
    std::vector<int64_t> length;                 // per layer
    std::vector<std::vector<std::vector<float>>> k, v;  // [layer][head] -> tokens x D, rounded

    bool has_retrieval(int32_t l) const {
        for (int32_t h = 0; h < cfg.kv_heads; ++h)
            if (policy[size_t(l * cfg.kv_heads + h)] == 0) return true;
        return false;
    }
};

void expect(const char* what, engram_status got, engram_status status, std::vector<std::string> needles = {}) {
    check_status(what, got, Expect{status, std::move(needles)});
}

int64_t layer_length(engram_context* ctx, engram_attention_cache* c, int32_t layer) {
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    expect("get_info", engram_attention_cache_get_info(ctx, c, layer, &info), ENGRAM_OK);
    return info.length;
}

// A valid append of n tokens to `layer`, recorded in the model.
void append(engram_context* ctx, engram_attention_cache* c, Model& m, int32_t layer, int64_t n,
            int32_t dtype, Rng& rng) {
    const int64_t H = m.cfg.kv_heads, D = m.cfg.head_dim;
    std::vector<float> k(size_t(H * n * D)), v(k.size());
    for (size_t i = 0; i < k.size(); ++i) {
        k[i] = round_to(m.cfg.dtype, float(rng.sym(2.0)));
        v[i] = round_to(m.cfg.dtype, float(rng.sym(2.0)));
    }
    Arena a;
    const std::vector<uint8_t> kb = encode(dtype, k), vb = encode(dtype, v);
    const void* kp = a.input(kb.data(), kb.size(), "k");
    const void* vp = a.input(vb.data(), vb.size(), "v");
    a.snapshot();
    expect("append", engram_attention_cache_append(ctx, c, layer, n, engram_dtype(dtype), kp, vp), ENGRAM_OK);
    a.check_untouched("a valid append", true);
    for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < n * D; ++i) {
            m.k[size_t(layer)][size_t(h)].push_back(k[size_t(h * n * D + i)]);
            m.v[size_t(layer)][size_t(h)].push_back(v[size_t(h * n * D + i)]);
        }
    m.length[size_t(layer)] += n;
}

// out [hq, tokens, D] of a decode (tokens 1) or a prefill of the model's last
// `tokens` tokens of `layer`, against the reference.
void check_attention(const Model& m, int32_t layer, int64_t hq, int64_t tokens, int32_t io, float scale,
                     const std::vector<float>& q, const uint8_t* out) {
    engram_test::RefDecodeInput r;
    const int64_t H = m.cfg.kv_heads, D = m.cfg.head_dim, L = m.length[size_t(layer)];
    r.q_heads = hq;
    r.kv_heads = H;
    r.head_dim = D;
    r.length = L;
    r.sink = m.cfg.sink_tokens;
    r.window = m.cfg.window;
    r.scale = scale == 0.0f ? 1.0 / std::sqrt(double(D)) : double(scale);
    r.q.assign(q.begin(), q.end());
    for (int64_t h = 0; h < H; ++h) {
        r.k.insert(r.k.end(), m.k[size_t(layer)][size_t(h)].begin(), m.k[size_t(layer)][size_t(h)].end());
        r.v.insert(r.v.end(), m.v[size_t(layer)][size_t(h)].begin(), m.v[size_t(layer)][size_t(h)].end());
        r.policy.push_back(m.policy[size_t(layer * H + h)]);
    }
    const engram_test::RefDecodeOutput ref = engram_test::ref_attention_prefill(r, tokens);
    // The f32 error model of tests/native/ops/attention/attention_harness.cpp.
    const double u = std::ldexp(1.0, -24);
    const double out_u = io == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -8) : io == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11) : u;
    const uint64_t es = io == ENGRAM_DTYPE_F32 ? 4 : 2;
    const int64_t G = hq / H;
    for (int64_t row = 0; row < hq * tokens; ++row) {
        const int64_t h = row / tokens, t = row % tokens;
        const double n = double(ref.kept[size_t((h / G) * tokens + t)]);
        const double rel = 4.0 * double(D + 2) * u * ref.score_abs[size_t(row)] + (2.0 * n + 16.0) * u;
        for (int64_t e = 0; e < D; ++e) {
            const size_t i = size_t(row * D + e);
            const double got = decode_one(io, out + i * es);
            const double bound = 2.0 * ref.abs_out[i] * rel + std::fabs(ref.out[i]) * out_u + 1e-30;
            FUZZ_CHECK(std::fabs(got - ref.out[i]) <= bound, "out[%lld][%lld][%lld] = %.9g, reference %.9g, bound %.3g",
                       (long long)h, (long long)t, (long long)e, got, ref.out[i], bound);
        }
    }
}

}  // namespace

void fuzz_attention(FuzzedDataProvider& in, engram_context* ctx) {
    // The pattern loader and Double Sparsity (attention_sparse_fuzz.cpp).
    switch (in.ConsumeIntegralInRange(0, 7)) {
        case 6: fuzz_attention_pattern(in, ctx); return;
        case 7: fuzz_attention_dsparse(in, ctx); return;
        default: break;
    }
    expect("set_threads", engram_context_set_threads(ctx, in.ConsumeIntegralInRange(1, 3)), ENGRAM_OK);
    Model m;
    engram_attention_cache_config_init(&m.cfg);
    m.cfg.dtype = in.ConsumeIntegralInRange(0, 2);
    m.cfg.layers = in.ConsumeIntegralInRange(1, 2);
    m.cfg.kv_heads = in.ConsumeIntegralInRange(1, 3);
    static const int32_t dims[] = {1, 3, 8, 16, 17, 64, 80, 128};
    m.cfg.head_dim = dims[in.ConsumeIntegralInRange(0, 7)];
    m.cfg.sink_tokens = in.ConsumeIntegralInRange(0, 5);
    m.cfg.window = in.ConsumeIntegralInRange(1, 12);
    m.cfg.capacity = in.ConsumeIntegralInRange(1, 40);
    for (int32_t i = 0; i < m.cfg.layers * m.cfg.kv_heads; ++i) m.policy.push_back(in.ConsumeBool() ? 1 : 0);
    m.cfg.policy = m.policy.data();
    m.length.assign(size_t(m.cfg.layers), 0);
    m.k.assign(size_t(m.cfg.layers), std::vector<std::vector<float>>(size_t(m.cfg.kv_heads)));
    m.v = m.k;
    static const int32_t ratios[] = {1, 2, 4, 8};
    const int64_t hq = int64_t(m.cfg.kv_heads) * ratios[in.ConsumeIntegralInRange(0, 3)];
    Rng rng(in.ConsumeIntegral<uint64_t>());
    g_trace = "attention dtype " + std::to_string(m.cfg.dtype) + " layers " + std::to_string(m.cfg.layers) +
              " Hkv " + std::to_string(m.cfg.kv_heads) + " Hq " + std::to_string(hq) + " D " +
              std::to_string(m.cfg.head_dim) + " sink " + std::to_string(m.cfg.sink_tokens) + " W " +
              std::to_string(m.cfg.window) + " capacity " + std::to_string(m.cfg.capacity);

    engram_attention_cache* cache = nullptr;
    expect("create", engram_attention_cache_create(ctx, &m.cfg, &cache), ENGRAM_OK);
    // Fill: up to 4 appends per layer, within a retrieval head's capacity.
    for (int32_t l = 0; l < m.cfg.layers; ++l) {
        const int appends = in.ConsumeIntegralInRange(0, 4);
        for (int i = 0; i < appends; ++i) {
            const int64_t room = m.has_retrieval(l) ? m.cfg.capacity - m.length[size_t(l)] : 60;
            if (room <= 0) break;
            const int64_t n = in.ConsumeIntegralInRange<int64_t>(1, std::min<int64_t>(room, 30));
            append(ctx, cache, m, l, n, in.ConsumeBool() ? m.cfg.dtype : ENGRAM_DTYPE_F32, rng);
        }
    }
    const int32_t layer = in.ConsumeIntegralInRange(0, m.cfg.layers - 1);
    const int32_t io = in.ConsumeIntegralInRange(0, 2);
    const uint64_t es = io == ENGRAM_DTYPE_F32 ? 4 : 2;
    const int64_t D = m.cfg.head_dim;
    std::vector<float> q(size_t(hq * D));
    for (float& x : q) x = round_to(io, float(rng.sym(3.0)));
    const std::vector<uint8_t> qb = encode(io, q);
    Arena a;
    const void* qp = a.input(qb.data(), qb.size(), "q");
    uint8_t* out = a.output(size_t(hq * D) * es + es, "out");
    engram_attention_options opts;
    engram_attention_options_init(&opts);
    opts.scale = in.ConsumeBool() ? 0.0f : float(0.05 + rng.uniform());
    const int fault = in.ConsumeIntegralInRange(0, 16);
    g_trace += " | layer " + std::to_string(layer) + " length " + std::to_string(m.length[size_t(layer)]) +
               " fault " + std::to_string(fault);
    std::vector<int64_t> before = m.length;
    a.snapshot();
    engram_status st = ENGRAM_OK;
    Expect x;
    const bool empty = m.length[size_t(layer)] == 0;
    bool prefilled = false;
    switch (fault) {
        case 1: st = engram_attention_decode(nullptr, cache, layer, hq, engram_dtype(io), qp, out, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"ctx"}}; break;
        case 2: st = engram_attention_decode(ctx, nullptr, layer, hq, engram_dtype(io), qp, out, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"cache"}}; break;
        case 3: st = engram_attention_decode(other_context(), cache, layer, hq, engram_dtype(io), qp, out, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"cache"}}; break;
        case 4: st = engram_attention_decode(ctx, cache, m.cfg.layers + layer, hq, engram_dtype(io), qp, out, &opts); x = {ENGRAM_ERR_OUT_OF_RANGE, {"layer"}}; break;
        case 5:
            if (hq + 1 == 0 || (hq + 1) % m.cfg.kv_heads == 0) {  // H_kv = 1: every count is a multiple
                st = engram_attention_decode(ctx, cache, layer, 0, engram_dtype(io), qp, out, &opts);
            } else {
                st = engram_attention_decode(ctx, cache, layer, hq + 1, engram_dtype(io), qp, out, &opts);
            }
            x = {ENGRAM_ERR_INVALID_ARGUMENT, {"q_heads"}};
            break;
        case 6: st = engram_attention_decode(ctx, cache, layer, hq, engram_dtype(io), nullptr, out, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"q"}}; break;
        case 7: st = engram_attention_decode(ctx, cache, layer, hq, engram_dtype(io), qp, nullptr, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"out"}}; break;
        case 8: st = engram_attention_decode(ctx, cache, layer, hq, engram_dtype(io), qp, out + 1, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"out"}}; break;
        case 9: {  // q and out overlap (by all of them, or all but one element when there are two or more)
            const uint64_t shift = hq * D > 1 && in.ConsumeBool() ? es : 0;
            st = engram_attention_decode(ctx, cache, layer, hq, engram_dtype(io), out, out + shift, &opts);
            x = {ENGRAM_ERR_INVALID_ARGUMENT, {"out", "q"}};
            break;
        }
        case 10: opts.scale = -opts.scale - 1.0f; st = engram_attention_decode(ctx, cache, layer, hq, engram_dtype(io), qp, out, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"opts->scale"}}; break;
        case 11: st = engram_attention_decode(ctx, cache, layer, hq, engram_dtype(3 + in.ConsumeIntegralInRange(0, 3)), qp, out, &opts); x = {ENGRAM_ERR_UNSUPPORTED, {"dtype"}}; break;
        case 12: {  // append past a retrieval head's capacity (or 0 tokens for a streaming-only layer)
            const bool r = m.has_retrieval(layer);
            const int64_t n = r ? m.cfg.capacity - m.length[size_t(layer)] + 1 : 0;
            std::vector<float> kv(size_t(m.cfg.kv_heads * std::max<int64_t>(n, 1) * D), 1.0f);
            const void* kp = a.input(kv.data(), kv.size() * 4, "k");
            a.snapshot();
            st = engram_attention_cache_append(ctx, cache, layer, n, ENGRAM_DTYPE_F32, kp, kp);
            x = {ENGRAM_ERR_INVALID_ARGUMENT, {"tokens"}};
            break;
        }
        case 13: {  // a policy for a cache that holds tokens, or of the wrong count
            std::vector<int32_t> p(m.policy.size() + 1, 1);
            const bool any = std::any_of(m.length.begin(), m.length.end(), [](int64_t n) { return n > 0; });
            st = engram_attention_cache_set_policy(ctx, cache, p.data(), int64_t(any ? m.policy.size() : p.size()));
            x = {ENGRAM_ERR_INVALID_ARGUMENT, {any ? "cache" : "count"}};
            break;
        }
        case 14: {  // appended keys in a 16-bit dtype that is not the storage dtype
            const int32_t dt = m.cfg.dtype == ENGRAM_DTYPE_F16 ? ENGRAM_DTYPE_BF16 : ENGRAM_DTYPE_F16;
            std::vector<uint16_t> kv(size_t(m.cfg.kv_heads * D), 0);
            st = engram_attention_cache_append(ctx, cache, layer, 1, engram_dtype(dt), kv.data(), kv.data());
            x = {ENGRAM_ERR_UNSUPPORTED, {"dtype"}};
            break;
        }
        case 15: {  // a valid prefill (or one past a retrieval head's capacity)
            const int64_t room = m.has_retrieval(layer) ? m.cfg.capacity - m.length[size_t(layer)] : 40;
            const int64_t n = room > 0 ? in.ConsumeIntegralInRange<int64_t>(1, std::min<int64_t>(room, 20)) : 1;
            const int32_t dt = in.ConsumeBool() ? ENGRAM_DTYPE_F32 : m.cfg.dtype;
            const uint64_t des = dt == ENGRAM_DTYPE_F32 ? 4 : 2;
            std::vector<float> pq(size_t(hq * n * D)), pk(size_t(m.cfg.kv_heads * n * D)), pv(pk.size());
            for (float& x : pq) x = round_to(dt, float(rng.sym(3.0)));
            for (size_t i = 0; i < pk.size(); ++i) {
                pk[i] = round_to(m.cfg.dtype, float(rng.sym(2.0)));
                pv[i] = round_to(m.cfg.dtype, float(rng.sym(2.0)));
            }
            const std::vector<uint8_t> qe = encode(dt, pq), ke = encode(dt, pk), ve = encode(dt, pv);
            const void* pqp = a.input(qe.data(), qe.size(), "prefill q");
            const void* pkp = a.input(ke.data(), ke.size(), "prefill k");
            const void* pvp = a.input(ve.data(), ve.size(), "prefill v");
            uint8_t* pout = a.output(size_t(hq * n * D) * des, "prefill out");
            a.snapshot();
            st = engram_attention_prefill(ctx, cache, layer, hq, n, engram_dtype(dt), pqp, pkp, pvp, pout, &opts);
            if (room <= 0) {
                x = {ENGRAM_ERR_INVALID_ARGUMENT, {"tokens"}};
                break;
            }
            check_status("prefill", st, x);
            a.check_untouched("a valid prefill", true);
            for (int64_t h = 0; h < m.cfg.kv_heads; ++h)
                for (int64_t i = 0; i < n * D; ++i) {
                    m.k[size_t(layer)][size_t(h)].push_back(pk[size_t(h * n * D + i)]);
                    m.v[size_t(layer)][size_t(h)].push_back(pv[size_t(h * n * D + i)]);
                }
            m.length[size_t(layer)] += n;
            before[size_t(layer)] += n;
            check_attention(m, layer, hq, n, dt, opts.scale, pq, pout);
            prefilled = true;
            break;
        }
        default:
            st = engram_attention_decode(ctx, cache, layer, hq, engram_dtype(io), qp, out, &opts);
            if (empty) x = {ENGRAM_ERR_INVALID_ARGUMENT, {"layer"}};
    }
    // A decode with another fault may meet the empty layer first: only the status kind is fixed then.
    if (empty && fault >= 6 && fault <= 11 && st == ENGRAM_ERR_INVALID_ARGUMENT && x.status == ENGRAM_ERR_INVALID_ARGUMENT)
        x.needles.clear();
    check_status("attention call", st, x);
    if (x.status != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
    } else {
        a.check_untouched("a valid call", true);
        for (uint64_t b = 0; b < es; ++b)
            FUZZ_CHECK(out[uint64_t(hq * D) * es + b] == 0xFF, "decode wrote past out");
        if (!prefilled) check_attention(m, layer, hq, 1, io, opts.scale, q, out);
    }
    for (int32_t l = 0; l < m.cfg.layers; ++l)
        FUZZ_CHECK(layer_length(ctx, cache, l) == before[size_t(l)], "layer %d length changed", l);
    expect("destroy", engram_attention_cache_destroy(cache), ENGRAM_OK);
    engram_memory_stats ms;
    engram_memory_stats_init(&ms);
    expect("memory_stats", engram_context_get_memory_stats(ctx, &ms), ENGRAM_OK);
    FUZZ_CHECK(ms.current_bytes == 0, "scratch after an attention call: %llu", (unsigned long long)ms.current_bytes);
}

}  // namespace fuzz
