// scan_delta_reference.cpp — see scan_delta_reference.hpp.
#include "ops/scan/reference/scan_delta_reference.hpp"

#include <cmath>

namespace engram_test {

namespace {

// The library's eps inside the norm (kDeltaL2Eps, an fp32 1e-6).
const double kEps = double(1e-6f);

struct Head {
    const DeltaRefProblem& p;
    int64_t n, h;
    int64_t qk(int64_t tau, int64_t c) const {
        return (tau * p.qk_heads + h / (p.heads / p.qk_heads)) * p.k_dim + c;
    }
    int64_t v(int64_t tau, int64_t x) const { return (tau * p.heads + h) * p.v_dim + x; }
    int64_t gate(int64_t tau) const { return tau * p.heads + h; }
    int64_t state(int64_t c, int64_t x) const {
        return ((n * p.heads + h) * p.k_dim + c) * p.v_dim + x;
    }
    double decay(int64_t tau) const { return p.gated ? std::exp(p.g[size_t(gate(tau))]) : 1.0; }
    // q^ or k^ of token tau (normalised when asked) and 1 / norm.
    std::vector<double> row(const std::vector<double>& x, int64_t tau, double* r) const {
        std::vector<double> out(size_t(p.k_dim));
        double s = 0.0;
        for (int64_t c = 0; c < p.k_dim; ++c) {
            out[size_t(c)] = x[size_t(qk(tau, c))];
            s += out[size_t(c)] * out[size_t(c)];
        }
        *r = p.l2norm ? 1.0 / std::sqrt(s + kEps) : 1.0;
        for (double& e : out) e *= *r;
        return out;
    }
};

using Mat = std::vector<double>;  // [K, V]

// One token: returns S_t from S_{t-1}, with u.
Mat step(const Head& hd, const Mat& S, const std::vector<double>& k, int64_t tau, double a,
         std::vector<double>& u) {
    const DeltaRefProblem& p = hd.p;
    const int64_t K = p.k_dim, V = p.v_dim;
    const double beta = p.beta[size_t(hd.gate(tau))];
    u.assign(size_t(V), 0.0);
    for (int64_t x = 0; x < V; ++x) {
        double pred = 0.0;
        for (int64_t c = 0; c < K; ++c) pred += S[size_t(c * V + x)] * k[size_t(c)];
        u[size_t(x)] = beta * (p.v[size_t(hd.v(tau, x))] - a * pred);
    }
    Mat out(S.size());
    for (int64_t c = 0; c < K; ++c)
        for (int64_t x = 0; x < V; ++x)
            out[size_t(c * V + x)] = a * S[size_t(c * V + x)] + k[size_t(c)] * u[size_t(x)];
    return out;
}

Mat initial(const Head& hd) {
    const DeltaRefProblem& p = hd.p;
    Mat S(size_t(p.k_dim * p.v_dim), 0.0);
    if (!p.s0.empty())
        for (int64_t c = 0; c < p.k_dim; ++c)
            for (int64_t x = 0; x < p.v_dim; ++x) S[size_t(c * p.v_dim + x)] = p.s0[size_t(hd.state(c, x))];
    return S;
}

}  // namespace

std::vector<int64_t> DeltaRefProblem::sequences() const {
    if (!offsets.empty()) return offsets;
    std::vector<int64_t> o(size_t(batch + 1));
    for (int64_t n = 0; n <= batch; ++n) o[size_t(n)] = n * t;
    return o;
}

DeltaRefResult ref_delta_recurrent(const DeltaRefProblem& p) {
    const std::vector<int64_t> off = p.sequences();
    const int64_t N = int64_t(off.size()) - 1, K = p.k_dim, V = p.v_dim;
    DeltaRefResult r;
    r.o.assign(size_t(p.batch * p.t * p.heads * V), 0.0);
    r.state.assign(size_t(N * p.heads * K * V), 0.0);
    r.state_max.assign(size_t(N * p.heads), 0.0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < p.heads; ++h) {
            const Head hd{p, n, h};
            Mat S = initial(hd);
            double& smax = r.state_max[size_t(n * p.heads + h)];
            for (double e : S) smax = std::fmax(smax, std::fabs(e));
            std::vector<double> u;
            for (int64_t tau = off[size_t(n)]; tau < off[size_t(n + 1)]; ++tau) {
                double rq, rk;
                const std::vector<double> q = hd.row(p.q, tau, &rq), k = hd.row(p.k, tau, &rk);
                S = step(hd, S, k, tau, hd.decay(tau), u);
                for (double e : S) smax = std::fmax(smax, std::fabs(e));
                for (int64_t x = 0; x < V; ++x) {
                    double acc = 0.0;
                    for (int64_t c = 0; c < K; ++c) acc += q[size_t(c)] * S[size_t(c * V + x)];
                    r.o[size_t(hd.v(tau, x))] = p.scale * acc;
                }
            }
            for (int64_t c = 0; c < K; ++c)
                for (int64_t x = 0; x < V; ++x) r.state[size_t(hd.state(c, x))] = S[size_t(c * V + x)];
        }
    return r;
}

DeltaRefGrads ref_delta_backward(const DeltaRefProblem& p, const std::vector<double>& d_o,
                                 const std::vector<double>& d_state) {
    const std::vector<int64_t> off = p.sequences();
    const int64_t N = int64_t(off.size()) - 1, K = p.k_dim, V = p.v_dim;
    DeltaRefGrads gr;
    gr.dq.assign(p.q.size(), 0.0);
    gr.dk.assign(p.k.size(), 0.0);
    gr.dv.assign(p.v.size(), 0.0);
    if (p.gated) gr.dg.assign(p.g.size(), 0.0);
    gr.dbeta.assign(p.beta.size(), 0.0);
    gr.ds0.assign(size_t(N * p.heads * K * V), 0.0);
    gr.dq_hat.assign(p.q.size(), 0.0);
    gr.dk_hat.assign(p.k.size(), 0.0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < p.heads; ++h) {
            const Head hd{p, n, h};
            const int64_t t0 = off[size_t(n)], t1 = off[size_t(n + 1)];
            std::vector<Mat> S{initial(hd)};  // S[i] = state after i tokens
            std::vector<double> u;
            for (int64_t tau = t0; tau < t1; ++tau) {
                double r;
                S.push_back(step(hd, S.back(), hd.row(p.k, tau, &r), tau, hd.decay(tau), u));
            }
            Mat dS(size_t(K * V), 0.0);
            if (!d_state.empty())
                for (int64_t c = 0; c < K; ++c)
                    for (int64_t x = 0; x < V; ++x) dS[size_t(c * V + x)] = d_state[size_t(hd.state(c, x))];
            for (int64_t tau = t1 - 1; tau >= t0; --tau) {
                const Mat& St = S[size_t(tau - t0 + 1)];
                const Mat& Sp = S[size_t(tau - t0)];
                double rq, rk;
                const std::vector<double> qh = hd.row(p.q, tau, &rq), kh = hd.row(p.k, tau, &rk);
                const double a = hd.decay(tau), beta = p.beta[size_t(hd.gate(tau))];
                std::vector<double> dqh(size_t(K), 0.0), dkh(size_t(K), 0.0);
                for (int64_t c = 0; c < K; ++c)
                    for (int64_t x = 0; x < V; ++x) {
                        const double dox = d_o[size_t(hd.v(tau, x))];
                        dS[size_t(c * V + x)] += p.scale * qh[size_t(c)] * dox;
                        dqh[size_t(c)] += p.scale * St[size_t(c * V + x)] * dox;
                    }
                std::vector<double> pk(size_t(V), 0.0), du(size_t(V), 0.0), dpred(static_cast<size_t>(V));
                for (int64_t c = 0; c < K; ++c)
                    for (int64_t x = 0; x < V; ++x) {
                        pk[size_t(x)] += Sp[size_t(c * V + x)] * kh[size_t(c)];
                        du[size_t(x)] += dS[size_t(c * V + x)] * kh[size_t(c)];
                    }
                double dbeta = 0.0, dalpha = 0.0;
                std::vector<double> uu(static_cast<size_t>(V));
                for (int64_t x = 0; x < V; ++x) {
                    const double res = p.v[size_t(hd.v(tau, x))] - a * pk[size_t(x)];
                    uu[size_t(x)] = beta * res;
                    dbeta += du[size_t(x)] * res;
                    gr.dv[size_t(hd.v(tau, x))] += beta * du[size_t(x)];
                    dpred[size_t(x)] = -beta * du[size_t(x)];
                    dalpha += dpred[size_t(x)] * pk[size_t(x)];
                }
                for (int64_t c = 0; c < K; ++c)
                    for (int64_t x = 0; x < V; ++x) {
                        double& d = dS[size_t(c * V + x)];
                        dkh[size_t(c)] += d * uu[size_t(x)] + a * Sp[size_t(c * V + x)] * dpred[size_t(x)];
                        dalpha += d * Sp[size_t(c * V + x)];
                        d = a * (d + kh[size_t(c)] * dpred[size_t(x)]);
                    }
                gr.dbeta[size_t(hd.gate(tau))] += dbeta;
                if (p.gated) gr.dg[size_t(hd.gate(tau))] += a * dalpha;
                // Through the normalisation: dx = r (dx^ - x^ (x^ . dx^)).
                auto back = [&](const std::vector<double>& xh, double r, std::vector<double>& d,
                                std::vector<double>& dst) {
                    double s = 0.0;
                    for (int64_t c = 0; c < K; ++c) s += xh[size_t(c)] * d[size_t(c)];
                    for (int64_t c = 0; c < K; ++c) {
                        const double dx = p.l2norm ? r * (d[size_t(c)] - xh[size_t(c)] * s) : d[size_t(c)];
                        dst[size_t(hd.qk(tau, c))] += dx;
                    }
                };
                back(qh, rq, dqh, gr.dq);
                back(kh, rk, dkh, gr.dk);
                for (int64_t c = 0; c < K; ++c) {
                    gr.dq_hat[size_t(hd.qk(tau, c))] += dqh[size_t(c)];
                    gr.dk_hat[size_t(hd.qk(tau, c))] += dkh[size_t(c)];
                }
            }
            for (int64_t c = 0; c < K; ++c)
                for (int64_t x = 0; x < V; ++x) gr.ds0[size_t(hd.state(c, x))] = dS[size_t(c * V + x)];
        }
    return gr;
}

}  // namespace engram_test
