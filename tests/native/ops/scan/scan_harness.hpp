// scan_harness.hpp — what the scan tests share: a problem (shapes, gate,
// dtype, values as the library reads them), its upload to a CPU context, the
// library's forward and decode calls, and the error-model tolerance against
// the float64 references (scan_reference.hpp).
#pragma once

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/scan/reference/scan_reference.hpp"
#include "scan_tolerance.hpp"
#include "test_util.hpp"

namespace engram_test {

struct ScanSpec {
    int64_t batch = 1, t = 1, heads = 1, qk_heads = 0, k_dim = 4, v_dim = 4;
    int gate = ENGRAM_SCAN_GATE_NONE;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    int32_t out_dtype = ENGRAM_SCAN_OUTPUT_DTYPE_INPUT;
    int32_t chunk = 0;    // 0 = default
    float scale = 0.0f;   // 0 = default
    bool initial_state = false;
    double g_lo = -0.5, g_hi = 0.0;  // log-decays drawn uniformly in [g_lo, g_hi]
    uint64_t seed = 1;

    int64_t hk() const { return qk_heads ? qk_heads : heads; }
    int64_t gate_width() const { return gate == 0 ? 0 : gate == 1 ? 1 : k_dim; }
    std::string label() const {
        return "B" + std::to_string(batch) + " T" + std::to_string(t) + " H" + std::to_string(heads) +
               "/" + std::to_string(hk()) + " K" + std::to_string(k_dim) + " V" +
               std::to_string(v_dim) + " gate" + std::to_string(gate) + " " + dtype_label(dtype) +
               " chunk" + std::to_string(chunk) + (initial_state ? " S0" : "");
    }
};

// Values as the library reads them: q, k, v rounded to the dtype; g and the
// initial state fp32.
struct ScanData {
    ScanSpec spec;
    std::vector<float> q, k, v, g, s0;
    std::vector<uint8_t> q_raw, k_raw, v_raw;

    ScanRefProblem ref() const {
        ScanRefProblem p;
        p.batch = spec.batch;
        p.t = spec.t;
        p.heads = spec.heads;
        p.qk_heads = spec.hk();
        p.k_dim = spec.k_dim;
        p.v_dim = spec.v_dim;
        p.gate = spec.gate;
        p.scale = spec.scale != 0.0f ? double(spec.scale) : double(float(1.0 / std::sqrt(double(spec.k_dim))));
        p.q.assign(q.begin(), q.end());
        p.k.assign(k.begin(), k.end());
        p.v.assign(v.begin(), v.end());
        p.g.assign(g.begin(), g.end());
        p.s0.assign(s0.begin(), s0.end());
        return p;
    }
    void encode() {
        q_raw = encode_floats(spec.dtype, q);
        k_raw = encode_floats(spec.dtype, k);
        v_raw = encode_floats(spec.dtype, v);
    }
};

inline ScanData make_scan_data(const ScanSpec& s) {
    Rng rng(s.seed);
    ScanData d;
    d.spec = s;
    auto fill = [&](std::vector<float>& x, int64_t n) {
        x.resize(size_t(n));
        for (float& e : x) e = round_to(s.dtype, float(rng.normal()));
    };
    fill(d.q, s.batch * s.t * s.hk() * s.k_dim);
    fill(d.k, s.batch * s.t * s.hk() * s.k_dim);
    fill(d.v, s.batch * s.t * s.heads * s.v_dim);
    d.g.resize(size_t(s.batch * s.t * s.heads * s.gate_width()));
    for (float& e : d.g) e = float(rng.uniform(s.g_lo, s.g_hi));
    if (s.initial_state) {
        d.s0.resize(size_t(s.batch * s.heads * s.k_dim * s.v_dim));
        for (float& e : d.s0) e = float(rng.normal());
    }
    d.encode();
    return d;
}

inline engram_scan_inputs scan_inputs(const ScanData& d, const Buffer& q, const Buffer& k,
                                      const Buffer& v, const Buffer& g, const Buffer& s0) {
    engram_scan_inputs in;
    engram_scan_inputs_init(&in);
    in.dtype = d.spec.dtype;
    in.gate = d.spec.gate;
    in.batch = d.spec.batch;
    in.t = d.spec.t;
    in.heads = d.spec.heads;
    in.qk_heads = d.spec.qk_heads;
    in.k_dim = d.spec.k_dim;
    in.v_dim = d.spec.v_dim;
    in.q = q.get();
    in.k = k.get();
    in.v = v.get();
    in.g = g.as<float>();
    in.initial_state = s0.as<float>();
    return in;
}

inline engram_scan_options scan_options(const ScanSpec& s) {
    engram_scan_options o;
    engram_scan_options_init(&o);
    o.chunk_size = s.chunk;
    o.scale = s.scale;
    o.output_dtype = s.out_dtype;
    return o;
}

inline engram_dtype out_dtype_of(const ScanSpec& s) {
    return s.out_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT ? s.dtype : engram_dtype(s.out_dtype);
}

// The library's outputs of one call, as fp32.
struct ScanOut {
    std::vector<float> o, state;
};

// The chunked forward on a CPU context.
inline ScanOut run_scan_forward(Context& ctx, const ScanData& d, bool want_state = true) {
    const ScanSpec& s = d.spec;
    Buffer q = ctx.upload(d.q_raw), k = ctx.upload(d.k_raw), v = ctx.upload(d.v_raw);
    Buffer g = d.g.empty() ? Buffer() : ctx.upload(d.g);
    Buffer s0 = d.s0.empty() ? Buffer() : ctx.upload(d.s0);
    const engram_scan_inputs in = scan_inputs(d, q, k, v, g, s0);
    const engram_scan_options opts = scan_options(s);
    const engram_dtype od = out_dtype_of(s);
    const size_t o_count = size_t(s.batch * s.t * s.heads * s.v_dim);
    const size_t st_count = size_t(s.batch * s.heads * s.k_dim * s.v_dim);
    Buffer o = ctx.output(o_count * engram_dtype_size(od));
    Buffer fs = want_state ? ctx.output(st_count * 4) : Buffer();
    EXPECT_OK(engram_scan_linear_forward(ctx.get(), &in, &opts, o.get(), fs.as<float>()));
    ScanOut out;
    out.o = o.floats(od);
    if (want_state) out.state = fs.floats();
    return out;
}

// The error-model bounds of the scan family's tolerance model
// (perf/native/suites/scan_tolerance.hpp, shared with the case suite).
using engram_suite::ScanBounds;

inline ScanBounds scan_bounds(const ScanData& d) {
    const int64_t chunk = d.spec.chunk ? d.spec.chunk : ENGRAM_SCAN_DEFAULT_CHUNK;
    return engram_suite::scan_forward_bounds(d.ref(), chunk, out_dtype_of(d.spec));
}

}  // namespace engram_test
