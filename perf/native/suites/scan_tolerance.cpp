// scan_tolerance.cpp — see scan_tolerance.hpp.
#include "scan_tolerance.hpp"

#include <algorithm>
#include <cmath>

namespace engram_suite {

using engram_test::ScanRefProblem;
using engram_test::ScanRefResult;

namespace {

constexpr double kU = 5.9604644775390625e-08;  // 2^-24

double rounding_of(engram_dtype dtype) {
    return dtype == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -8)
           : dtype == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11)
                                       : 0.0;
}

// The problem on absolute values (the decays stay as they are: positive).
ScanRefProblem absolute(ScanRefProblem a) {
    for (auto* v : {&a.q, &a.k, &a.v, &a.s0})
        for (double& x : *v) x = std::fabs(x);
    a.scale = std::fabs(a.scale);
    return a;
}

}  // namespace

ScanBounds scan_forward_bounds(const ScanRefProblem& p, int64_t chunk, engram_dtype out_dtype) {
    const ScanRefResult m = engram_test::ref_scan_recurrent(absolute(p));
    const double terms =
        double(2 * p.k_dim + 2 * std::min<int64_t>(chunk, p.t) + (p.t + chunk - 1) / chunk + 8);
    const double out_eps = rounding_of(out_dtype);
    ScanBounds b;
    b.o.reserve(m.o.size());
    b.state.reserve(m.state.size());
    for (double x : m.o) b.o.push_back(4.0 * terms * kU * x * (1.0 + out_eps) + out_eps * x + 1e-30);
    for (double x : m.state) b.state.push_back(4.0 * terms * kU * x + 1e-30);
    return b;
}

double scan_loss(const ScanRefProblem& p, const ScanUpstream& u) {
    const ScanRefResult r = engram_test::ref_scan_recurrent(p);
    double l = 0.0;
    for (size_t i = 0; i < r.o.size(); ++i) l += u.d_o[i] * r.o[i];
    for (size_t i = 0; i < u.d_state.size(); ++i) l += u.d_state[i] * r.state[i];
    return l;
}

namespace {

// Central differences of the loss over every entry of one input.
std::vector<double> numeric_grad(ScanRefProblem p, const ScanUpstream& u,
                                 std::vector<double> ScanRefProblem::*field) {
    std::vector<double>& x = p.*field;
    std::vector<double> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        const double keep = x[i], h = 1e-5 * std::max(1.0, std::fabs(keep));
        x[i] = keep + h;
        const double up = scan_loss(p, u);
        x[i] = keep - h;
        const double down = scan_loss(p, u);
        x[i] = keep;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

}  // namespace

ScanGradExpect scan_gradient(const ScanRefProblem& p, const ScanUpstream& u,
                             std::vector<double> ScanRefProblem::*field, engram_dtype grad_dtype,
                             bool rounded) {
    ScanUpstream abs_u = u;
    for (double& x : abs_u.d_o) x = std::fabs(x);
    for (double& x : abs_u.d_state) x = std::fabs(x);
    ScanGradExpect e;
    e.want = numeric_grad(p, u, field);
    const std::vector<double> mag = numeric_grad(absolute(p), abs_u, field);
    const double terms = double(2 * p.t + 2 * p.k_dim + 2 * p.v_dim + 8);
    const double geps = rounded ? rounding_of(grad_dtype) : 0.0;
    e.bound.resize(mag.size());
    for (size_t i = 0; i < mag.size(); ++i) {
        const double m = std::fabs(mag[i]);
        e.bound[i] = 8.0 * terms * kU * m + geps * m + 1e-7 * (1.0 + m);
    }
    return e;
}

}  // namespace engram_suite
