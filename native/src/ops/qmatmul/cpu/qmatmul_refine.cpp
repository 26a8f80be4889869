// qmatmul_refine.cpp — the decoupleQ-style refinement of a 2-bit quantization
// (engram_qmatmul_quantize_refine). The layer-output error of row r,
// ||(w_r - W_hat_r) X^T||^2 = e_r^T H e_r with H = X^T X, is minimised by
// alternating two steps from the RTN start, each row independently:
//  - codes fixed: s, z of all groups of the row by weighted least squares,
//    the normal equations (A^T H A) theta = A^T H w, A[c] = (q_c, 1) in the
//    columns of c's group (a 2 * groups system, solved by Cholesky);
//  - s, z fixed: codes re-chosen GPTQ-style, column by column, rounding the
//    error-compensated weight to the nearest level of its group and spreading
//    the rounding error over the remaining columns through the upper
//    Cholesky factor of H^-1.
// Every iterate is scored with the undamped H and the best one (RTN
// included) is kept, so the result is never worse than RTN on the given H.
// All arithmetic is double; rows are split statically over the workers, and
// the shared factor is computed once, so results do not depend on threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "ops/qmatmul/cpu/qmatmul_cpu.hpp"
#include "shared/half.h"

namespace engram::cpu {

namespace {

float load_weight(const void* w, engram_dtype dt, int64_t i) {
    switch (dt) {
        case ENGRAM_DTYPE_F16: return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
        case ENGRAM_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
        default: return static_cast<const float*>(w)[i];
    }
}

double round_scale(engram_dtype dt, double v) {
    return dt == ENGRAM_DTYPE_F16 ? double(f16_to_f32(f32_to_f16(float(v)))) : double(float(v));
}

void store_scale(void* base, engram_dtype dt, int64_t i, double v) {
    if (dt == ENGRAM_DTYPE_F16)
        static_cast<uint16_t*>(base)[i] = f32_to_f16(float(v));
    else
        static_cast<float*>(base)[i] = float(v);
}

// In place: a [n x n] symmetric positive definite -> its lower Cholesky
// factor (upper part left as is). False if a pivot is not positive.
bool cholesky(std::vector<double>& a, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
        double d = a[size_t(j * n + j)];
        for (int64_t t = 0; t < j; ++t) d -= a[size_t(j * n + t)] * a[size_t(j * n + t)];
        if (!(d > 0.0)) return false;
        d = std::sqrt(d);
        a[size_t(j * n + j)] = d;
        for (int64_t i = j + 1; i < n; ++i) {
            double v = a[size_t(i * n + j)];
            for (int64_t t = 0; t < j; ++t) v -= a[size_t(i * n + t)] * a[size_t(j * n + t)];
            a[size_t(i * n + j)] = v / d;
        }
    }
    return true;
}

// Solves L L^T x = b in place (L from cholesky()).
void cholesky_solve(const std::vector<double>& l, int64_t n, double* b) {
    for (int64_t i = 0; i < n; ++i) {
        double v = b[i];
        for (int64_t t = 0; t < i; ++t) v -= l[size_t(i * n + t)] * b[t];
        b[i] = v / l[size_t(i * n + i)];
    }
    for (int64_t i = n - 1; i >= 0; --i) {
        double v = b[i];
        for (int64_t t = i + 1; t < n; ++t) v -= l[size_t(t * n + i)] * b[t];
        b[i] = v / l[size_t(i * n + i)];
    }
}

// U, upper triangular with H_damped^-1 = U^T U (row-major, U[i][j], j >= i).
std::vector<double> inverse_factor(const std::vector<double>& hd, int64_t k) {
    std::vector<double> l = hd;
    if (!cholesky(l, k))
        fail(ENGRAM_ERR_INVALID_ARGUMENT, "h is not positive semi-definite (Cholesky of the damped "
                                          "h failed): pass h = X^T X of the calibration inputs");
    // H^-1 = L^-T L^-1: columns of H^-1 by solving L L^T x = e_j.
    std::vector<double> hinv(size_t(k * k));
    std::vector<double> col(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) {
        std::fill(col.begin(), col.end(), 0.0);
        col[size_t(j)] = 1.0;
        cholesky_solve(l, k, col.data());
        for (int64_t i = 0; i < k; ++i) hinv[size_t(i * k + j)] = col[size_t(i)];
    }
    // Symmetrise (rounding) and factor: H^-1 = M M^T, U = M^T.
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < i; ++j) {
            const double v = 0.5 * (hinv[size_t(i * k + j)] + hinv[size_t(j * k + i)]);
            hinv[size_t(i * k + j)] = hinv[size_t(j * k + i)] = v;
        }
    if (!cholesky(hinv, k))
        fail(ENGRAM_ERR_INVALID_ARGUMENT, "h is too ill-conditioned to refine (Cholesky of its "
                                          "inverse failed)");
    std::vector<double> u(size_t(k * k), 0.0);
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j <= i; ++j) u[size_t(j * k + i)] = hinv[size_t(i * k + j)];
    return u;
}

int nearest(double x, double s, double z) {
    if (s == 0.0 || !std::isfinite(s)) return 0;
    const double t = std::nearbyint((x - z) / s);
    return !(t > 0.0) ? 0 : t >= 3.0 ? 3 : int(t);
}

struct RowState {
    std::vector<int> q;
    std::vector<double> s, z;  // as stored (rounded to the scale dtype)
};

double objective(const std::vector<double>& h, int64_t k, int64_t group, const double* w,
                 const RowState& st, std::vector<double>& e) {
    for (int64_t c = 0; c < k; ++c)
        e[size_t(c)] = w[c] - (st.s[size_t(c / group)] * st.q[size_t(c)] + st.z[size_t(c / group)]);
    double total = 0.0;
    for (int64_t i = 0; i < k; ++i) {
        double v = 0.0;
        for (int64_t j = 0; j < k; ++j) v += h[size_t(i * k + j)] * e[size_t(j)];
        total += e[size_t(i)] * v;
    }
    return total;
}

// Codes fixed: least-squares s, z (weighted by the damped H), rounded to the
// scale dtype. A singular system (a group whose codes are all equal) gets a
// tiny ridge, which picks the smallest-norm solution among the equivalent ones.
void solve_scales(const std::vector<double>& hd, int64_t k, int64_t group, const double* w,
                  engram_dtype sd, RowState& st, std::vector<double>& m, std::vector<double>& rhs,
                  std::vector<double>& hw) {
    const int64_t n = 2 * (k / group);
    std::fill(m.begin(), m.end(), 0.0);
    for (int64_t i = 0; i < k; ++i) {
        double v = 0.0;
        for (int64_t j = 0; j < k; ++j) v += hd[size_t(i * k + j)] * w[j];
        hw[size_t(i)] = v;
    }
    for (int64_t a = 0; a < n; ++a) rhs[size_t(a)] = 0.0;
    for (int64_t i = 0; i < k; ++i) {
        const int64_t gi = i / group;
        rhs[size_t(2 * gi)] += st.q[size_t(i)] * hw[size_t(i)];
        rhs[size_t(2 * gi + 1)] += hw[size_t(i)];
        for (int64_t j = 0; j < k; ++j) {
            const double hij = hd[size_t(i * k + j)];
            const int64_t gj = j / group;
            const double qi = st.q[size_t(i)], qj = st.q[size_t(j)];
            m[size_t((2 * gi) * n + 2 * gj)] += qi * hij * qj;
            m[size_t((2 * gi) * n + 2 * gj + 1)] += qi * hij;
            m[size_t((2 * gi + 1) * n + 2 * gj)] += hij * qj;
            m[size_t((2 * gi + 1) * n + 2 * gj + 1)] += hij;
        }
    }
    double tr = 0.0;
    for (int64_t a = 0; a < n; ++a) tr += m[size_t(a * n + a)];
    const double ridge = 1e-10 * (tr / double(n)) + 1e-300;
    for (int64_t a = 0; a < n; ++a) m[size_t(a * n + a)] += ridge;
    if (!cholesky(m, n)) return;  // keep the previous s, z
    cholesky_solve(m, n, rhs.data());
    for (int64_t g = 0; g < k / group; ++g) {
        const double s = round_scale(sd, rhs[size_t(2 * g)]), z = round_scale(sd, rhs[size_t(2 * g + 1)]);
        if (!std::isfinite(s) || !std::isfinite(z)) return;
        st.s[size_t(g)] = s;
        st.z[size_t(g)] = z;
    }
}

// s, z fixed: GPTQ-style sequential rounding with error feedback through U.
void reround(const std::vector<double>& u, int64_t k, int64_t group, const double* w,
             RowState& st, std::vector<double>& wc) {
    std::copy(w, w + k, wc.begin());
    for (int64_t c = 0; c < k; ++c) {
        const double s = st.s[size_t(c / group)], z = st.z[size_t(c / group)];
        const int q = nearest(wc[size_t(c)], s, z);
        st.q[size_t(c)] = q;
        const double err = (wc[size_t(c)] - (s * q + z)) / u[size_t(c * k + c)];
        for (int64_t j = c + 1; j < k; ++j) wc[size_t(j)] -= err * u[size_t(c * k + j)];
    }
}

}  // namespace

void qmatmul_quantize_refine(engram_context& ctx, const QuantizeProblem& p, const float* h,
                             int iterations) {
    const int64_t k = p.k, group = p.group, groups = k / group;
    // H in double, and damped by 1% of its mean diagonal (as GPTQ) for the
    // solves, so a rank-deficient X^T X still has an inverse.
    std::vector<double> hh(size_t(k * k)), hd;
    double diag = 0.0;
    for (int64_t i = 0; i < k * k; ++i) hh[size_t(i)] = h[i];
    for (int64_t i = 0; i < k; ++i) diag += hh[size_t(i * k + i)];
    hd = hh;
    const double damp = 0.01 * diag / double(k) + 1e-12;
    for (int64_t i = 0; i < k; ++i) hd[size_t(i * k + i)] += damp;
    // hh, hd, u and inverse_factor's two temporaries.
    const uint64_t shared_bytes = 5 * uint64_t(k * k) * sizeof(double);
    ScratchAccount account(ctx, shared_bytes);
    const std::vector<double> u = iterations > 0 ? inverse_factor(hd, k) : std::vector<double>();

    // RTN first (it writes codes, scales, zeros), then refine row by row.
    qmatmul_quantize_rtn(ctx, p);
    if (iterations == 0) return;
    const int workers = int(std::min<int64_t>(ctx.pool->size(), p.n_out));
    const uint64_t row_bytes = (uint64_t(5 * k) + uint64_t(4 * groups * groups) + uint64_t(4 * groups)) *
                               sizeof(double);
    ScratchAccount rows_account(ctx, uint64_t(workers) * row_bytes);
    ctx.pool->run(workers, [&](int t, int parts) {
        int64_t r0, r1;
        static_range(p.n_out, parts, t, r0, r1);
        const size_t kk = size_t(k);
        std::vector<double> w(kk), e(kk), wc(kk), hw(kk);
        std::vector<double> m(size_t(4 * groups * groups)), rhs(size_t(2 * groups));
        const uint32_t* words = p.codes;
        for (int64_t r = r0; r < r1; ++r) {
            for (int64_t c = 0; c < k; ++c) w[size_t(c)] = load_weight(p.w, p.w_dtype, r * k + c);
            RowState st;
            st.q.resize(kk);
            st.s.resize(size_t(groups));
            st.z.resize(size_t(groups));
            for (int64_t c = 0; c < k; ++c)
                st.q[size_t(c)] = int((words[r * (k / 16) + c / 16] >> (2 * (c % 16))) & 3u);
            bool finite = true;
            for (int64_t g = 0; g < groups; ++g) {
                const int64_t i = r * groups + g;
                st.s[size_t(g)] = p.scale_dtype == ENGRAM_DTYPE_F16
                                      ? f16_to_f32(static_cast<const uint16_t*>(p.scales)[i])
                                      : static_cast<const float*>(p.scales)[i];
                st.z[size_t(g)] = p.scale_dtype == ENGRAM_DTYPE_F16
                                      ? f16_to_f32(static_cast<const uint16_t*>(p.zeros)[i])
                                      : static_cast<const float*>(p.zeros)[i];
                finite = finite && std::isfinite(st.s[size_t(g)]) && std::isfinite(st.z[size_t(g)]);
            }
            if (!finite) continue;  // a NaN/overflowing row keeps its RTN result
            RowState best = st;
            double best_obj = objective(hh, k, group, w.data(), st, e);
            for (int it = 0; it < iterations; ++it) {
                solve_scales(hd, k, group, w.data(), p.scale_dtype, st, m, rhs, hw);
                const double o1 = objective(hh, k, group, w.data(), st, e);
                if (o1 < best_obj) { best = st; best_obj = o1; }
                reround(u, k, group, w.data(), st, wc);
                const double o2 = objective(hh, k, group, w.data(), st, e);
                if (o2 < best_obj) { best = st; best_obj = o2; }
            }
            solve_scales(hd, k, group, w.data(), p.scale_dtype, st, m, rhs, hw);
            if (objective(hh, k, group, w.data(), st, e) < best_obj) best = st;
            uint32_t* row_words = p.codes + r * (k / 16);
            std::memset(row_words, 0, size_t(k / 16) * sizeof(uint32_t));
            for (int64_t c = 0; c < k; ++c) row_words[c / 16] |= uint32_t(best.q[size_t(c)]) << (2 * (c % 16));
            for (int64_t g = 0; g < groups; ++g) {
                store_scale(p.scales, p.scale_dtype, r * groups + g, best.s[size_t(g)]);
                store_scale(p.zeros, p.scale_dtype, r * groups + g, best.z[size_t(g)]);
            }
        }
    });
}

}  // namespace engram::cpu
