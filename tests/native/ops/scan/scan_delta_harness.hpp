// scan_delta_harness.hpp — what the delta-rule tests share: a problem
// (shapes, gate, dtype, options, variable-length offsets, values as the
// library reads them), its calls of the library on a CPU context, and the
// error-model tolerance against the float64 recurrence
// (scan_delta_reference.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/scan/reference/scan_delta_reference.hpp"
#include "test_util.hpp"

namespace engram_test {

struct DeltaSpec {
    int64_t batch = 1, t = 1, heads = 1, qk_heads = 0, k_dim = 4, v_dim = 4;
    bool gated = true, l2norm = false;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    int32_t out_dtype = ENGRAM_SCAN_OUTPUT_DTYPE_INPUT;
    int32_t chunk = 0;   // 0 = default
    float scale = 0.0f;  // 0 = default
    bool initial_state = false;
    std::vector<int64_t> cu;  // cu_seqlens (batch 1, t = cu.back()); empty = none
    bool cu64 = false;
    double g_lo = -0.5, g_hi = 0.0;  // log-decays, uniform
    uint64_t seed = 1;

    int64_t hk() const { return qk_heads ? qk_heads : heads; }
    int64_t seqs() const { return cu.empty() ? batch : int64_t(cu.size()) - 1; }
    std::string label() const {
        std::string s = "B" + std::to_string(batch) + " T" + std::to_string(t) + " H" +
                        std::to_string(heads) + "/" + std::to_string(hk()) + " K" +
                        std::to_string(k_dim) + " V" + std::to_string(v_dim) +
                        (gated ? " gated" : " plain") + (l2norm ? " l2" : "") + " " +
                        dtype_label(dtype) + " chunk" + std::to_string(chunk) +
                        (initial_state ? " S0" : "");
        if (!cu.empty()) {
            s += " cu{";
            for (int64_t x : cu) s += std::to_string(x) + ",";
            s += "}";
        }
        return s;
    }
};

struct DeltaData {
    DeltaSpec spec;
    std::vector<float> q, k, v, g, beta, s0;
    std::vector<uint8_t> q_raw, k_raw, v_raw;

    double scale() const {
        return spec.scale != 0.0f ? double(spec.scale)
                                  : double(float(1.0 / std::sqrt(double(spec.k_dim))));
    }
    DeltaRefProblem ref() const {
        DeltaRefProblem p;
        p.batch = spec.batch;
        p.t = spec.t;
        p.heads = spec.heads;
        p.qk_heads = spec.hk();
        p.k_dim = spec.k_dim;
        p.v_dim = spec.v_dim;
        p.gated = spec.gated;
        p.l2norm = spec.l2norm;
        p.scale = scale();
        p.offsets = spec.cu;
        p.q.assign(q.begin(), q.end());
        p.k.assign(k.begin(), k.end());
        p.v.assign(v.begin(), v.end());
        p.g.assign(g.begin(), g.end());
        p.beta.assign(beta.begin(), beta.end());
        p.s0.assign(s0.begin(), s0.end());
        return p;
    }
    void encode() {
        q_raw = encode_floats(spec.dtype, q);
        k_raw = encode_floats(spec.dtype, k);
        v_raw = encode_floats(spec.dtype, v);
    }
};

// Without in-op normalisation k is drawn with norm about 0.8 so that
// (I - beta k k^T) stays a contraction (beta in [0, 1]), as trained models
// keep it (they normalise k outside); with it, k is a plain normal draw.
inline DeltaData make_delta_data(DeltaSpec s) {
    if (!s.cu.empty()) {
        s.batch = 1;
        s.t = s.cu.back();
    }
    Rng rng(s.seed);
    DeltaData d;
    d.spec = s;
    const int64_t tokens = s.batch * s.t;
    const double k_scale = s.l2norm ? 1.0 : 0.8 / std::sqrt(double(s.k_dim));
    auto fill = [&](std::vector<float>& x, int64_t n, double sc) {
        x.resize(size_t(n));
        for (float& e : x) e = round_to(s.dtype, float(sc * rng.normal()));
    };
    fill(d.q, tokens * s.hk() * s.k_dim, 1.0);
    fill(d.k, tokens * s.hk() * s.k_dim, k_scale);
    fill(d.v, tokens * s.heads * s.v_dim, 1.0);
    if (s.gated) {
        d.g.resize(size_t(tokens * s.heads));
        for (float& e : d.g) e = float(rng.uniform(s.g_lo, s.g_hi));
    }
    d.beta.resize(size_t(tokens * s.heads));
    for (float& e : d.beta) e = float(rng.uniform(0.0, 1.0));
    if (s.initial_state) {
        d.s0.resize(size_t(s.seqs() * s.heads * s.k_dim * s.v_dim));
        for (float& e : d.s0) e = float(rng.normal());
    }
    d.encode();
    return d;
}

// The library's buffers for one problem.
struct DeltaBuffers {
    Buffer q, k, v, g, beta, s0, cu;
    DeltaBuffers(Context& ctx, const DeltaData& d) {
        q = ctx.upload(d.q_raw);
        k = ctx.upload(d.k_raw);
        v = ctx.upload(d.v_raw);
        if (!d.g.empty()) g = ctx.upload(d.g);
        beta = ctx.upload(d.beta);
        if (!d.s0.empty()) s0 = ctx.upload(d.s0);
        if (!d.spec.cu.empty()) {
            if (d.spec.cu64) {
                cu = ctx.upload(d.spec.cu);
            } else {
                std::vector<int32_t> c32(d.spec.cu.begin(), d.spec.cu.end());
                cu = ctx.upload(c32);
            }
        }
    }
    engram_scan_delta_inputs inputs(const DeltaData& d) const {
        const DeltaSpec& s = d.spec;
        engram_scan_delta_inputs in;
        engram_scan_delta_inputs_init(&in);
        in.dtype = s.dtype;
        in.qk_l2norm = s.l2norm ? 1 : 0;
        in.batch = s.cu.empty() ? s.batch : 1;
        in.t = s.cu.empty() ? s.t : s.cu.back();
        in.heads = s.heads;
        in.qk_heads = s.qk_heads;
        in.k_dim = s.k_dim;
        in.v_dim = s.v_dim;
        in.q = q.get();
        in.k = k.get();
        in.v = v.get();
        in.g = g.as<float>();
        in.beta = beta.as<float>();
        in.initial_state = s0.as<float>();
        if (!s.cu.empty()) {
            in.cu_seqlens = cu.get();
            in.cu_seqlens_dtype = s.cu64 ? ENGRAM_DTYPE_I64 : ENGRAM_DTYPE_I32;
            in.num_seqs = int64_t(s.cu.size()) - 1;
        }
        return in;
    }
};

inline engram_scan_options delta_options(const DeltaSpec& s) {
    engram_scan_options o;
    engram_scan_options_init(&o);
    o.chunk_size = s.chunk;
    o.scale = s.scale;
    o.output_dtype = s.out_dtype;
    return o;
}

inline engram_dtype delta_out_dtype(const DeltaSpec& s) {
    return s.out_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT ? s.dtype : engram_dtype(s.out_dtype);
}

inline int64_t delta_tokens(const DeltaData& d) { return d.spec.batch * d.spec.t; }

struct DeltaOut {
    std::vector<float> o, state;
};

inline DeltaOut run_delta_forward(Context& ctx, const DeltaData& d) {
    const DeltaSpec& s = d.spec;
    DeltaBuffers b(ctx, d);
    const engram_scan_delta_inputs in = b.inputs(d);
    const engram_scan_options opts = delta_options(s);
    const engram_dtype od = delta_out_dtype(s);
    Buffer o = ctx.output(size_t(delta_tokens(d) * s.heads * s.v_dim) * engram_dtype_size(od));
    Buffer fs = ctx.output(size_t(s.seqs() * s.heads * s.k_dim * s.v_dim) * 4);
    EXPECT_OK(engram_scan_delta_forward(ctx.get(), &in, &opts, o.get(), fs.as<float>()));
    return DeltaOut{o.floats(od), fs.floats()};
}

// Error model of the fp32 evaluation. With |k^| <= 1-ish and beta in [0, 1]
// each token's update is a contraction, so rounding errors do not grow along
// the sequence; each step adds a few eps times the state's magnitude M (the
// largest |entry| of any S_t, from the reference) times (1 + |k^|_1) (the
// products S^T k). An output reads the state through q~: |q~|_1 times that.
// `terms` counts the accumulations (K, the chunk, chunks) as for the linear
// scan; the output dtype's rounding is added.
struct DeltaBounds {
    std::vector<double> o, state;
};

inline DeltaBounds delta_bounds(const DeltaData& d, const DeltaRefResult& ref) {
    const DeltaSpec& s = d.spec;
    const DeltaRefProblem p = d.ref();
    const std::vector<int64_t> off = p.sequences();
    const int64_t chunk = s.chunk ? s.chunk : ENGRAM_SCAN_DEFAULT_CHUNK;
    const int64_t longest = [&] {
        int64_t m = 0;
        for (size_t n = 0; n + 1 < off.size(); ++n) m = std::max(m, off[n + 1] - off[n]);
        return m;
    }();
    const double terms = double(2 * s.k_dim + 2 * std::min(chunk, longest) +
                                (longest + chunk - 1) / chunk + 8);
    const double eps = std::ldexp(1.0, -24);
    const engram_dtype od = delta_out_dtype(s);
    const double out_eps = od == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -8)
                           : od == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11)
                                                    : 0.0;
    auto l1 = [&](const std::vector<float>& x, int64_t tau, int64_t h) {
        const int64_t hq = h / (s.heads / s.hk());
        double sum = 0.0, sq = 0.0;
        for (int64_t c = 0; c < s.k_dim; ++c) {
            const double e = x[size_t((tau * s.hk() + hq) * s.k_dim + c)];
            sum += std::fabs(e);
            sq += e * e;
        }
        return s.l2norm ? sum / std::sqrt(sq + 1e-6) : sum;
    };
    DeltaBounds b;
    b.o.assign(ref.o.size(), 0.0);
    b.state.assign(ref.state.size(), 0.0);
    for (size_t n = 0; n + 1 < off.size(); ++n)
        for (int64_t h = 0; h < s.heads; ++h) {
            const double M = ref.state_max[n * size_t(s.heads) + size_t(h)];
            double kmax = 0.0;
            for (int64_t tau = off[n]; tau < off[n + 1]; ++tau) kmax = std::max(kmax, l1(d.k, tau, h));
            const double err_s = 4.0 * terms * eps * M * (1.0 + kmax);
            for (int64_t tau = off[n]; tau < off[n + 1]; ++tau) {
                const double qn = std::fabs(p.scale) * l1(d.q, tau, h);
                for (int64_t x = 0; x < s.v_dim; ++x) {
                    const size_t i = size_t((tau * s.heads + h) * s.v_dim + x);
                    b.o[i] = qn * err_s * (1.0 + out_eps) + out_eps * std::fabs(ref.o[i]) + 1e-30;
                }
            }
            const size_t kv = size_t(s.k_dim * s.v_dim);
            for (size_t i = 0; i < kv; ++i)
                b.state[(n * size_t(s.heads) + size_t(h)) * kv + i] = err_s + 1e-30;
        }
    return b;
}

}  // namespace engram_test
