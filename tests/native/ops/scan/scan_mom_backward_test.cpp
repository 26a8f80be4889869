// scan_mom_backward_test.cpp — the MoM backward ops against central finite
// differences of the float64 references: d logits through the softmax over
// the chosen memories (selection and drops held fixed), d of the packed
// memory outputs and of the weights through combine, d of the token rows
// through gather. Every dtype the row ops take; bit-identical over threads.
#include <cmath>

#include "scan_mom_harness.hpp"

namespace engram_test {
namespace {

constexpr double kStep = 1e-5;  // central differences: error ~ h^2 |f'''|, far below the bounds

// d/dz of L(z) = sum_e c_e w_e(z) by central differences of the reference.
std::vector<double> fd_logits(MomRefRouting r, const std::vector<int32_t>& idx,
                              const std::vector<int32_t>& slots, const std::vector<float>& c) {
    std::vector<double> g(r.logits.size());
    auto loss = [&](const MomRefRouting& q) {
        const std::vector<double> w = ref_mom_weights(q, idx, slots);
        double l = 0.0;
        for (size_t e = 0; e < w.size(); ++e) l += double(c[e]) * w[e];
        return l;
    };
    for (size_t i = 0; i < g.size(); ++i) {
        const double z0 = r.logits[i];
        r.logits[i] = z0 + kStep;
        const double lp = loss(r);
        r.logits[i] = z0 - kStep;
        const double lm = loss(r);
        r.logits[i] = z0;
        g[i] = (lp - lm) / (2 * kStep);
    }
    return g;
}

TEST(ScanMomBackward, RouteAgainstFiniteDifferences) {
    Context ctx(ENGRAM_BACKEND_CPU);
    const MomSpec specs[] = {{1, 1, 1, 1, 0.0f}, {2, 17, 5, 2, 0.0f}, {1, 31, 7, 3, 0.6f},
                             {2, 9, 4, 4, 0.0f}, {3, 7, 6, 1, 1.0f}};
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16})
        for (MomSpec s : specs) {
            s.dtype = dt;
            s.seed = uint64_t(s.t + 100 * s.memories);
            SCOPED_TRACE(s.label());
            const std::vector<float> z = mom_logits(s);
            const MomRouteResult rt = run_mom_route(ctx, s, z);
            Rng rng(s.seed + 1);
            std::vector<float> dw(rt.weights.size());
            for (float& e : dw) e = float(rng.normal());
            Buffer lg = ctx.upload(encode_floats(dt, z)), ib = ctx.upload(rt.indices), sb = ctx.upload(rt.slots),
                   db = ctx.upload(dw), dz = ctx.output(z.size() * 4);
            const engram_scan_mom_routing r = mom_routing(s, lg);
            ASSERT_OK(engram_scan_mom_route_backward(ctx.get(), &r, ib.as<int32_t>(), sb.as<int32_t>(), db.as<float>(),
                                                     dz.as<float>()));
            const MomRefRouting rr = mom_ref_routing(s, z);
            const std::vector<double> want = fd_logits(rr, rt.indices, rt.slots, dw);
            // The library's double arithmetic rounded once to fp32, against a
            // difference quotient with error ~1e-10 here: bound 2^-22 of the
            // sum of |terms| (sum_j w_j |d_j| per token) plus the quotient's.
            std::vector<double> bound;
            for (int64_t n = 0; n < s.tokens(); ++n) {
                double mag = 0.0;
                for (int64_t j = 0; j < s.top_k; ++j) mag += std::fabs(double(dw[size_t(n * s.top_k + j)]));
                for (int64_t m = 0; m < s.memories; ++m) bound.push_back(std::ldexp(1.0, -22) * mag + 1e-8);
            }
            EXPECT_TRUE(all_within("d_logits", dz.floats(), want, bound, s.memories));
            // Memories not chosen get exactly 0.
            const std::vector<float> got = dz.floats();
            for (int64_t n = 0; n < s.tokens(); ++n)
                for (int64_t m = 0; m < s.memories; ++m) {
                    bool chosen = false;
                    for (int64_t j = 0; j < s.top_k; ++j) chosen |= rt.indices[size_t(n * s.top_k + j)] == m;
                    if (!chosen) {
                        EXPECT_EQ(0.0f, got[size_t(n * s.memories + m)]);
                    }
                }
        }
}

TEST(ScanMomBackward, CombineAndGatherAgainstFiniteDifferences) {
    Context ctx(ENGRAM_BACKEND_CPU);
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (float cf : {0.0f, 0.6f}) {
            MomSpec s{2, 13, 5, 2, cf, ENGRAM_DTYPE_F32, 21};
            SCOPED_TRACE(s.label() + " rows " + dtype_label(dt));
            const MomRouteResult rt = run_mom_route(ctx, s, mom_logits(s));
            const int64_t n = s.tokens(), k = s.top_k, d = 7;
            Rng rng(5);
            auto draw = [&](int64_t count) {
                std::vector<float> x(static_cast<size_t>(count));
                for (float& e : x) e = round_to(dt, float(rng.normal()));
                return x;
            };
            const std::vector<float> mo = draw(n * k * d), dy = draw(n * d), dp = draw(n * k * d);
            const engram_scan_mom_rows rows = mom_rows(dt, n, k, d);
            const size_t es = engram_dtype_size(dt);
            Buffer dyb = ctx.upload(encode_floats(dt, dy)), mb = ctx.upload(encode_floats(dt, mo)),
                   sl = ctx.upload(rt.slots), wb = ctx.upload(rt.weights), dmo = ctx.output(size_t(n * k * d) * es),
                   dwb = ctx.output(size_t(n * k) * 4);
            ASSERT_OK(engram_scan_mom_combine_backward(ctx.get(), &rows, dyb.get(), mb.get(), sl.as<int32_t>(),
                                                       wb.as<float>(), dmo.get(), dwb.as<float>()));
            // L = dy . combine(mem_out, w): differences in every mem_out entry and weight.
            std::vector<double> mod(mo.begin(), mo.end()), wd(rt.weights.begin(), rt.weights.end());
            auto loss = [&]() {
                const std::vector<double> y = ref_mom_combine(n, k, d, mod, rt.slots, wd, {});
                double l = 0.0;
                for (size_t i = 0; i < y.size(); ++i) l += double(dy[i]) * y[i];
                return l;
            };
            auto fd = [&](std::vector<double>& x) {
                std::vector<double> g(x.size());
                for (size_t i = 0; i < x.size(); ++i) {
                    const double x0 = x[i];
                    x[i] = x0 + kStep;
                    const double lp = loss();
                    x[i] = x0 - kStep;
                    const double lm = loss();
                    x[i] = x0;
                    g[i] = (lp - lm) / (2 * kStep);
                }
                return g;
            };
            const std::vector<double> want_dmo = fd(mod), want_dw = fd(wd);
            const double out_eps = dt == ENGRAM_DTYPE_F32 ? std::ldexp(1.0, -24) : dtype_eps(dt);
            std::vector<double> b_dmo, b_dw;
            for (double g : want_dmo) b_dmo.push_back(2 * out_eps * std::fabs(g) + 1e-8);
            for (int64_t t = 0; t < n; ++t)
                for (int64_t j = 0; j < k; ++j) {
                    double mag = 0.0;
                    const int32_t sl_ = rt.slots[size_t(t * k + j)];
                    for (int64_t c = 0; sl_ >= 0 && c < d; ++c)
                        mag += std::fabs(double(dy[size_t(t * d + c)]) * mo[size_t(sl_ * d + c)]);
                    b_dw.push_back(double(d + 2) * std::ldexp(1.0, -24) * mag + 1e-8);
                }
            EXPECT_TRUE(all_within("d_mem_out", dmo.floats(dt), want_dmo, b_dmo, d));
            EXPECT_TRUE(all_within("d_weights", dwb.floats(), want_dw, b_dw, k));

            // Gather backward: L = dp . gather(x).
            const std::vector<float> x = draw(n * d);
            std::vector<double> xd(x.begin(), x.end());
            auto gloss = [&]() {
                const std::vector<double> p = ref_mom_gather(n, k, d, xd, rt.gather_index);
                double l = 0.0;
                for (size_t i = 0; i < p.size(); ++i) l += double(dp[i]) * p[i];
                return l;
            };
            std::vector<double> want_dx(xd.size());
            for (size_t i = 0; i < xd.size(); ++i) {
                const double x0 = xd[i];
                xd[i] = x0 + kStep;
                const double lp = gloss();
                xd[i] = x0 - kStep;
                const double lm = gloss();
                xd[i] = x0;
                want_dx[i] = (lp - lm) / (2 * kStep);
            }
            Buffer dpb = ctx.upload(encode_floats(dt, dp)), dx = ctx.output(size_t(n * d) * es);
            ASSERT_OK(engram_scan_mom_gather_backward(ctx.get(), &rows, dpb.get(), sl.as<int32_t>(), dx.get()));
            std::vector<double> b_dx;
            for (int64_t t = 0; t < n; ++t)
                for (int64_t c = 0; c < d; ++c) {
                    double mag = 0.0;
                    for (int64_t j = 0; j < k; ++j) {
                        const int32_t sl_ = rt.slots[size_t(t * k + j)];
                        if (sl_ >= 0) mag += std::fabs(double(dp[size_t(sl_ * d + c)]));
                    }
                    b_dx.push_back((double(k) * std::ldexp(1.0, -24) + (dt == ENGRAM_DTYPE_F32 ? 0.0 : out_eps)) * mag + 1e-8);
                }
            EXPECT_TRUE(all_within("d_x", dx.floats(dt), want_dx, b_dx, d));
        }
}

TEST(ScanMomBackward, DeterministicOverThreads) {
    MomSpec s{2, 33, 5, 3, 0.8f, ENGRAM_DTYPE_F32, 77};
    const std::vector<float> z = mom_logits(s);
    std::vector<std::vector<float>> outs;
    for (int threads : {1, 2, 3}) {
        Context ctx(ENGRAM_BACKEND_CPU);
        ASSERT_OK(engram_context_set_threads(ctx.get(), threads));
        const MomRouteResult rt = run_mom_route(ctx, s, z);
        std::vector<float> dw(rt.weights.size());
        Rng rng(4);
        for (float& e : dw) e = float(rng.normal());
        Buffer lg = ctx.upload(z), ib = ctx.upload(rt.indices), sb = ctx.upload(rt.slots), db = ctx.upload(dw),
               dz = ctx.output(z.size() * 4);
        const engram_scan_mom_routing r = mom_routing(s, lg);
        ASSERT_OK(engram_scan_mom_route_backward(ctx.get(), &r, ib.as<int32_t>(), sb.as<int32_t>(), db.as<float>(),
                                                 dz.as<float>()));
        outs.push_back(dz.floats());
    }
    for (size_t i = 1; i < outs.size(); ++i)
        EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[i].data(), outs[0].size() * 4));
}

}  // namespace
}  // namespace engram_test
