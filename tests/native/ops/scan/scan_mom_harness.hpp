// scan_mom_harness.hpp — what the Mixture-of-Memories tests share: a routing
// problem (logits as the library reads them), the library's route call on a
// CPU context, and int32 downloads.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "ops/scan/reference/scan_mom_reference.hpp"
#include "test_util.hpp"

namespace engram_test {

struct MomSpec {
    int64_t batch = 1, t = 1, memories = 1, top_k = 1;
    float capacity_factor = 0.0f;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    uint64_t seed = 1;

    int64_t tokens() const { return batch * t; }
    std::string label() const {
        return "B" + std::to_string(batch) + " T" + std::to_string(t) + " M" +
               std::to_string(memories) + " k" + std::to_string(top_k) + " cf" +
               std::to_string(capacity_factor) + " " + dtype_label(dtype);
    }
};

// Logits rounded to the dtype (what the library reads).
inline std::vector<float> mom_logits(const MomSpec& s, double sd = 1.0) {
    Rng rng(s.seed);
    std::vector<float> z(size_t(s.tokens() * s.memories));
    for (float& x : z) x = round_to(s.dtype, float(sd * rng.normal()));
    return z;
}

inline MomRefRouting mom_ref_routing(const MomSpec& s, const std::vector<float>& z) {
    MomRefRouting r;
    r.batch = s.batch;
    r.t = s.t;
    r.memories = s.memories;
    r.top_k = s.top_k;
    r.capacity_factor = double(s.capacity_factor);
    r.logits.assign(z.begin(), z.end());
    return r;
}

inline std::vector<int32_t> ints(const Buffer& b) {
    std::vector<int32_t> r(b.bytes() / 4);
    b.download(r.data(), b.bytes());
    return r;
}

inline engram_scan_mom_routing mom_routing(const MomSpec& s, const Buffer& logits) {
    engram_scan_mom_routing r;
    engram_scan_mom_routing_init(&r);
    r.dtype = s.dtype;
    r.batch = s.batch;
    r.t = s.t;
    r.memories = s.memories;
    r.top_k = s.top_k;
    r.capacity_factor = s.capacity_factor;
    r.logits = logits.get();
    return r;
}

// The library's route outputs, downloaded.
struct MomRouteResult {
    std::vector<int32_t> indices, slots, offsets, gather_index;
    std::vector<float> weights;
};

inline MomRouteResult run_mom_route(Context& ctx, const MomSpec& s, const std::vector<float>& z) {
    Buffer lg = ctx.upload(encode_floats(s.dtype, z));
    const size_t nk = size_t(s.tokens() * s.top_k);
    Buffer idx = ctx.output(nk * 4), w = ctx.output(nk * 4), sl = ctx.output(nk * 4),
           off = ctx.output(size_t(s.batch * s.memories + 1) * 4), gi = ctx.output(nk * 4);
    const engram_scan_mom_routing r = mom_routing(s, lg);
    engram_scan_mom_route_out out;
    engram_scan_mom_route_out_init(&out);
    out.indices = idx.as<int32_t>();
    out.weights = w.as<float>();
    out.slots = sl.as<int32_t>();
    out.offsets = off.as<int32_t>();
    out.gather_index = gi.as<int32_t>();
    EXPECT_OK(engram_scan_mom_route(ctx.get(), &r, &out));
    return MomRouteResult{ints(idx), ints(sl), ints(off), ints(gi), w.floats()};
}

inline engram_scan_mom_rows mom_rows(engram_dtype dt, int64_t tokens, int64_t top_k, int64_t width) {
    engram_scan_mom_rows r;
    engram_scan_mom_rows_init(&r);
    r.dtype = dt;
    r.tokens = tokens;
    r.top_k = top_k;
    r.width = width;
    return r;
}

inline double dtype_eps(engram_dtype dt) {
    return dt == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -8)
           : dt == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11)
                                    : std::ldexp(1.0, -24);
}

}  // namespace engram_test
