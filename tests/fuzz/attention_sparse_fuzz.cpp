// attention_sparse_fuzz.cpp — see attention_sparse_fuzz.hpp.
#include "attention_sparse_fuzz.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "ops/attention/reference/attention_dsparse_reference.hpp"
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

void expect(const char* what, engram_status got, engram_status status, std::vector<std::string> needles = {}) {
    check_status(what, got, Expect{status, std::move(needles)});
}

int32_t streaming_heads(engram_context* ctx, engram_attention_cache* c, int32_t layer) {
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    expect("get_info", engram_attention_cache_get_info(ctx, c, layer, &info), ENGRAM_OK);
    return info.streaming_heads;
}

std::string ws(Rng& rng) {
    static const char* pieces[] = {"", "", " ", "\n", "\t", "\r\n", "  "};
    return pieces[rng.below(7)];
}

// A float in one of JSON's spellings that reads back to exactly x.
std::string number(float x, Rng& rng) {
    char buf[64];
    switch (rng.below(3)) {
        case 0: std::snprintf(buf, sizeof buf, "%.9g", double(x)); break;
        case 1: std::snprintf(buf, sizeof buf, "%.8e", double(x)); break;
        default: std::snprintf(buf, sizeof buf, "%.17g", double(x)); break;
    }
    std::string s = buf;
    if (rng.chance(0.3))
        for (char& c : s)
            if (c == 'e') c = 'E';
    return s;
}

}  // namespace

void fuzz_attention_pattern(FuzzedDataProvider& in, engram_context* ctx) {
    const int mode = in.ConsumeIntegralInRange(0, 2);
    if (mode == 0) {  // raw bytes as a pattern
        const int32_t layers = in.ConsumeIntegralInRange(1, 3), heads = in.ConsumeIntegralInRange(1, 3);
        const std::string text = in.ConsumeRandomLengthString(512);
        g_trace = "attention_pattern_parse raw " + std::to_string(text.size()) + " bytes";
        std::vector<float> s(size_t(layers * heads), -7.0f);
        const engram_status st = engram_attention_pattern_parse(text.data(), int64_t(text.size()), layers, heads,
                                                                s.data(), int64_t(s.size()));
        if (st == ENGRAM_OK) {
            for (float x : s) FUZZ_CHECK(std::isfinite(x), "parse accepted a non-finite score %g", double(x));
        } else {
            expect("attention_pattern_parse", st, ENGRAM_ERR_INVALID_ARGUMENT, {"pattern"});
            for (float x : s) FUZZ_CHECK(x == -7.0f, "a failed parse wrote scores");
        }
        return;
    }
    // A pattern from random scores, in random spellings and key orders.
    const int32_t layers = in.ConsumeIntegralInRange(1, 4), heads = in.ConsumeIntegralInRange(1, 4);
    Rng rng(in.ConsumeIntegral<uint64_t>());
    const int n = layers * heads;
    std::vector<float> scores(static_cast<size_t>(n));
    for (float& x : scores) x = rng.chance(0.3) ? float(rng.below(2)) : float(rng.sym(4.0));
    std::string rows = "[" + ws(rng);
    for (int32_t l = 0; l < layers; ++l) {
        rows += (l ? "," + ws(rng) : "") + "[" + ws(rng);
        for (int32_t h = 0; h < heads; ++h) rows += (h ? "," + ws(rng) : "") + number(scores[size_t(l * heads + h)], rng) + ws(rng);
        rows += "]" + ws(rng);
    }
    rows += "]";
    std::string parts[3] = {"\"layers\"" + ws(rng) + ":" + ws(rng) + std::to_string(layers),
                            "\"kv_heads\"" + ws(rng) + ":" + ws(rng) + std::to_string(heads),
                            "\"scores\"" + ws(rng) + ":" + ws(rng) + rows};
    for (int i = 2; i > 0; --i) std::swap(parts[i], parts[rng.below(i + 1)]);
    const int fault = mode == 2 ? in.ConsumeIntegralInRange(0, 3) : -1;
    if (fault == 0) parts[1] += ",\"extra\":1";
    std::string text = ws(rng) + "{" + ws(rng) + parts[0] + "," + ws(rng) + parts[1] + "," + ws(rng) + parts[2] +
                       ws(rng) + "}" + ws(rng);
    if (fault == 1) text.resize(text.size() - 1 - size_t(rng.below(int64_t(text.size()) / 2 + 1)));
    int32_t want_layers = layers, want_heads = heads;
    if (fault == 2) want_layers += 1;
    if (fault == 3) want_heads += 1;
    g_trace = "attention_pattern " + std::to_string(layers) + "x" + std::to_string(heads) + " fault " +
              std::to_string(fault) + ": " + text;
    std::vector<float> got(size_t(want_layers * want_heads), -7.0f);
    const engram_status st = engram_attention_pattern_parse(text.data(), int64_t(text.size()), want_layers,
                                                            want_heads, got.data(), int64_t(got.size()));
    if (fault >= 0) {
        // A truncation may cut only trailing whitespace: still valid.
        const bool still_valid = fault == 1 && text.find('}') != std::string::npos;
        if (!(still_valid && st == ENGRAM_OK)) {
            expect("attention_pattern_parse (fault)", st, ENGRAM_ERR_INVALID_ARGUMENT, {"pattern"});
            for (float x : got) FUZZ_CHECK(x == -7.0f, "a failed parse wrote scores");
            return;
        }
    }
    expect("attention_pattern_parse", st, ENGRAM_OK);
    for (int i = 0; i < n; ++i)
        FUZZ_CHECK(got[size_t(i)] == scores[size_t(i)], "score %d read %.9g, written %.9g", i,
                   double(got[size_t(i)]), double(scores[size_t(i)]));
    // Applied by ratio (or, with the sentinel, by threshold) on a fresh cache.
    engram_attention_cache_config cfg;
    engram_attention_cache_config_init(&cfg);
    cfg.layers = layers;
    cfg.kv_heads = heads;
    cfg.head_dim = 8;
    cfg.capacity = 8;
    engram_attention_cache* cache = nullptr;
    expect("create", engram_attention_cache_create(ctx, &cfg, &cache), ENGRAM_OK);
    const float sparsity = rng.chance(0.2) ? -1.0f : float(rng.uniform() * 1.2 - 0.1);
    std::vector<int32_t> want(size_t(n), 0);
    if (sparsity == -1.0f) {
        for (int i = 0; i < n; ++i) want[size_t(i)] = scores[size_t(i)] < 0.5f;
    } else if (sparsity >= 0.0f && sparsity <= 1.0f) {
        const int64_t s = int64_t(std::floor(double(sparsity) * n + 0.5));
        for (int64_t k = 0; k < s; ++k) {  // the lowest remaining, lower index on ties
            int best = -1;
            for (int i = 0; i < n; ++i)
                if (!want[size_t(i)] && (best < 0 || scores[size_t(i)] < scores[size_t(best)])) best = i;
            want[size_t(best)] = 1;
        }
    }
    const engram_status ps = engram_attention_cache_set_policy_by_ratio(ctx, cache, got.data(), n, sparsity);
    if (sparsity == -1.0f || sparsity < 0.0f || sparsity > 1.0f) {
        expect("set_policy_by_ratio (sparsity)", ps, ENGRAM_ERR_INVALID_ARGUMENT, {"sparsity"});
        for (int32_t l = 0; l < layers; ++l)
            FUZZ_CHECK(streaming_heads(ctx, cache, l) == 0, "a failed set_policy_by_ratio changed the policy");
        if (sparsity != -1.0f) {
            engram_attention_cache_destroy(cache);
            return;
        }
        // The threshold applies through a file.
        char path[] = "/tmp/engram_fuzz_pattern_XXXXXX";
        const int fd = mkstemp(path);
        FUZZ_CHECK(fd >= 0, "mkstemp");
        FUZZ_CHECK(write(fd, text.data(), text.size()) == ssize_t(text.size()), "write");
        close(fd);
        expect("load_pattern", engram_attention_cache_load_pattern(ctx, cache, path, sparsity), ENGRAM_OK);
        std::remove(path);
    } else {
        expect("set_policy_by_ratio", ps, ENGRAM_OK);
    }
    for (int32_t l = 0; l < layers; ++l) {
        int32_t count = 0;
        for (int32_t h = 0; h < heads; ++h) count += want[size_t(l * heads + h)];
        FUZZ_CHECK(streaming_heads(ctx, cache, l) == count, "layer %d: %d streaming heads, expected %d", l,
                   streaming_heads(ctx, cache, l), count);
    }
    engram_attention_cache_destroy(cache);
}

void fuzz_attention_dsparse(FuzzedDataProvider& in, engram_context* ctx) {
    expect("set_threads", engram_context_set_threads(ctx, in.ConsumeIntegralInRange(1, 3)), ENGRAM_OK);
    const int32_t dtype = in.ConsumeIntegralInRange(0, 2);
    const int32_t H = in.ConsumeIntegralInRange(1, 3);
    static const int32_t dims[] = {1, 3, 8, 16, 17, 64, 80};
    const int32_t D = dims[in.ConsumeIntegralInRange(0, 6)];
    static const int32_t ratios[] = {1, 2, 4, 8};
    const int64_t hq = int64_t(H) * ratios[in.ConsumeIntegralInRange(0, 3)];
    const int32_t sink = in.ConsumeIntegralInRange(0, 4), window = in.ConsumeIntegralInRange(1, 12);
    const int32_t r = in.ConsumeIntegralInRange(1, D);
    const bool before = in.ConsumeBool();
    Rng rng(in.ConsumeIntegral<uint64_t>());
    std::vector<int32_t> policy(static_cast<size_t>(H));
    for (int32_t& p : policy) p = in.ConsumeBool() ? 1 : 0;
    // Channels: r of D, increasing, per head.
    std::vector<int32_t> ch;
    for (int32_t h = 0; h < H; ++h) {
        std::vector<int32_t> all(static_cast<size_t>(D));
        for (int32_t j = 0; j < D; ++j) all[size_t(j)] = j;
        for (int32_t j = D - 1; j > 0; --j) std::swap(all[size_t(j)], all[size_t(rng.below(j + 1))]);
        std::sort(all.begin(), all.begin() + r);
        ch.insert(ch.end(), all.begin(), all.begin() + r);
    }
    engram_attention_cache_config cfg;
    engram_attention_cache_config_init(&cfg);
    cfg.dtype = dtype;
    cfg.kv_heads = H;
    cfg.head_dim = D;
    cfg.sink_tokens = sink;
    cfg.window = window;
    cfg.capacity = 60;
    cfg.policy = policy.data();
    g_trace = "attention_dsparse dtype " + std::to_string(dtype) + " Hkv " + std::to_string(H) + " Hq " +
              std::to_string(hq) + " D " + std::to_string(D) + " r " + std::to_string(r) + " sink " +
              std::to_string(sink) + " W " + std::to_string(window);
    engram_attention_cache* cache = nullptr;
    expect("create", engram_attention_cache_create(ctx, &cfg, &cache), ENGRAM_OK);
    if (before) expect("set_channels", engram_attention_dsparse_set_channels(ctx, cache, 0, r, ch.data()), ENGRAM_OK);
    std::vector<std::vector<float>> K(static_cast<size_t>(H)), V(static_cast<size_t>(H));
    int64_t S = 0;
    const int appends = in.ConsumeIntegralInRange(1, 4);
    for (int a = 0; a < appends && S < 60; ++a) {
        const int64_t n = in.ConsumeIntegralInRange<int64_t>(1, 60 - S);
        std::vector<float> k(size_t(H * n * D)), v(k.size());
        for (size_t i = 0; i < k.size(); ++i) {
            k[i] = round_to(dtype, float(rng.sym(2.0)));
            v[i] = round_to(dtype, float(rng.sym(2.0)));
        }
        expect("append", engram_attention_cache_append(ctx, cache, 0, n, ENGRAM_DTYPE_F32, k.data(), v.data()),
               ENGRAM_OK);
        for (int32_t h = 0; h < H; ++h) {
            K[size_t(h)].insert(K[size_t(h)].end(), k.begin() + h * n * D, k.begin() + (h + 1) * n * D);
            V[size_t(h)].insert(V[size_t(h)].end(), v.begin() + h * n * D, v.begin() + (h + 1) * n * D);
        }
        S += n;
    }
    if (!before) expect("set_channels", engram_attention_dsparse_set_channels(ctx, cache, 0, r, ch.data()), ENGRAM_OK);
    const int32_t io = in.ConsumeIntegralInRange(0, 2);
    const uint64_t es = io == ENGRAM_DTYPE_F32 ? 4 : 2;
    std::vector<float> q(size_t(hq * D));
    for (float& x : q) x = round_to(io, float(rng.sym(2.0)));
    const int64_t top_k = in.ConsumeIntegralInRange<int64_t>(1, S);
    engram_attention_dsparse_options opts;
    engram_attention_dsparse_options_init(&opts);
    opts.recent = in.ConsumeIntegralInRange<int64_t>(0, 20);
    Arena arena;
    const std::vector<uint8_t> qb = encode(io, q);
    const void* qp = arena.input(qb.data(), qb.size(), "q");
    uint8_t* out = arena.output(size_t(hq * D) * es + 2, "out");
    arena.snapshot();
    const int fault = in.ConsumeIntegralInRange(0, 8);
    g_trace += " S " + std::to_string(S) + " k " + std::to_string(top_k) + " recent " +
               std::to_string(opts.recent) + " fault " + std::to_string(fault);
    engram_status st = ENGRAM_OK;
    Expect x;
    std::vector<int32_t> bad = ch;
    switch (fault) {
        case 1: st = engram_attention_dsparse_decode(ctx, cache, 0, hq, engram_dtype(io), qp, out, S + 1 + int64_t(rng.below(5)), &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"top_k"}}; break;
        case 2: st = engram_attention_dsparse_set_channels(ctx, cache, 0, D + 1, ch.data()); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"r"}}; break;
        case 3:
            bad[size_t(rng.below(int64_t(bad.size())))] = rng.chance(0.5) ? D : -1;
            st = engram_attention_dsparse_set_channels(ctx, cache, 0, r, bad.data());
            x = {ENGRAM_ERR_INVALID_ARGUMENT, {"channels"}};
            break;
        case 4: opts.recent = -1 - int64_t(rng.below(3)); st = engram_attention_dsparse_decode(ctx, cache, 0, hq, engram_dtype(io), qp, out, top_k, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"opts->recent"}}; break;
        case 5: st = engram_attention_dsparse_decode(ctx, cache, 0, 0, engram_dtype(io), qp, out, top_k, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"q_heads"}}; break;
        case 6: st = engram_attention_dsparse_decode(ctx, cache, 0, hq, engram_dtype(io), qp, out + 1, top_k, &opts); x = {ENGRAM_ERR_INVALID_ARGUMENT, {"out"}}; break;
        case 7: {  // calibrate with r > D
            std::vector<int32_t> c(size_t(H) * size_t(D + 1), -3);
            st = engram_attention_dsparse_calibrate(ctx, hq, H, 2, D, ENGRAM_DTYPE_F32, q.data(), q.data(), D + 1, c.data());
            x = {ENGRAM_ERR_INVALID_ARGUMENT, {"r"}};
            for (int32_t v : c) FUZZ_CHECK(v == -3, "a failed calibrate wrote channels");
            break;
        }
        case 8: {  // a valid calibration against the reference (hq rows of q as samples)
            const int64_t N = 1;
            std::vector<float> ks(size_t(H * N * D));
            for (float& v : ks) v = round_to(ENGRAM_DTYPE_F32, float(rng.sym(2.0)));
            std::vector<int32_t> c(size_t(H * r), -3);
            expect("calibrate", engram_attention_dsparse_calibrate(ctx, hq, H, N, D, ENGRAM_DTYPE_F32, q.data(), ks.data(), r, c.data()), ENGRAM_OK);
            const engram_test::RefCalibration ref = engram_test::ref_dsparse_calibrate(
                hq, H, N, D, std::vector<double>(q.begin(), q.end()), std::vector<double>(ks.begin(), ks.end()), r);
            // The library sums the same doubles in the same order: equal whatever the margin.
            FUZZ_CHECK(c == ref.channels, "calibrate chose other channels than the reference");
            engram_attention_cache_destroy(cache);
            return;
        }
        default: break;
    }
    if (fault != 0) {
        check_status("dsparse fault", st, x);
        arena.check_untouched("a failed Double Sparsity call", false);
    }
    // Valid decode (after a fault too: the cache and channels are unchanged).
    engram_attention_dsparse_options good;
    engram_attention_dsparse_options_init(&good);
    good.recent = opts.recent < 0 ? 0 : opts.recent;
    uint8_t* out2 = arena.output(size_t(hq * D) * es, "out2");
    expect("dsparse_decode", engram_attention_dsparse_decode(ctx, cache, 0, hq, engram_dtype(io), qp, out2, top_k, &good),
           ENGRAM_OK);
    engram_test::RefDecodeInput ri;
    ri.q_heads = hq;
    ri.kv_heads = H;
    ri.head_dim = D;
    ri.length = S;
    ri.sink = sink;
    ri.window = window;
    ri.scale = 1.0 / std::sqrt(double(D));
    ri.q.assign(q.begin(), q.end());
    for (int32_t h = 0; h < H; ++h) {
        ri.k.insert(ri.k.end(), K[size_t(h)].begin(), K[size_t(h)].end());
        ri.v.insert(ri.v.end(), V[size_t(h)].begin(), V[size_t(h)].end());
    }
    ri.policy = policy;
    const engram_test::RefSelection sel = engram_test::ref_dsparse_select(ri, ch, r, top_k, good.recent);
    engram_attention_cache_destroy(cache);
    if (sel.margin < 1e-3) return;  // too close to call in f32: the status was checked
    const engram_test::RefDecodeOutput ref = engram_test::ref_attention_over(ri, sel.positions);
    const double u = std::ldexp(1.0, -24);
    const double out_u = io == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -8) : io == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11) : u;
    const int64_t G = hq / H;
    for (int64_t h = 0; h < hq; ++h) {
        const double n = double(ref.kept[size_t(h / G)]);
        const double rel = 4.0 * double(D + 2) * u * ref.score_abs[size_t(h)] + (2.0 * n + 16.0) * u;
        for (int64_t e = 0; e < D; ++e) {
            const size_t i = size_t(h * D + e);
            const double got = decode_one(io, out2 + i * es);
            const double bound = 2.0 * ref.abs_out[i] * rel + std::fabs(ref.out[i]) * out_u + 1e-30;
            FUZZ_CHECK(std::fabs(got - ref.out[i]) <= bound, "dsparse out[%lld][%lld] = %.9g, reference %.9g, bound %.3g",
                       (long long)h, (long long)e, got, ref.out[i], bound);
        }
    }
}

}  // namespace fuzz
