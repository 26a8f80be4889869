// bench_problem.cpp — see bench_problem.hpp.
#include "bench_problem.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include "shared/half.h"

namespace engram_bench {

namespace {

void fill_normal(std::vector<float>& x, float scale, uint64_t seed) {
    // Split across threads with independent streams: generation of 32M
    // values would otherwise take longer than a benchmark case.
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    const size_t chunk = (x.size() + threads - 1) / threads;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            std::mt19937_64 rng(seed * 1000003 + t);
            std::normal_distribution<float> nd(0.0f, scale);
            const size_t end = std::min(x.size(), (t + 1) * chunk);
            for (size_t i = t * chunk; i < end; ++i) x[i] = nd(rng);
        });
    for (auto& th : pool) th.join();
}

void round_to(engram_dtype dt, std::vector<float>& x, std::vector<uint16_t>& bits) {
    if (dt == ENGRAM_DTYPE_F32) return;
    bits.resize(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        bits[i] = dt == ENGRAM_DTYPE_BF16 ? engram::f32_to_bf16(x[i]) : engram::f32_to_f16(x[i]);
        x[i] = dt == ENGRAM_DTYPE_BF16 ? engram::bf16_to_f32(bits[i]) : engram::f16_to_f32(bits[i]);
    }
}

}  // namespace

const void* Problem::e_data() const {
    return dtype == ENGRAM_DTYPE_F32 ? static_cast<const void*>(e.data()) : e16.data();
}
const void* Problem::c_data() const {
    return dtype == ENGRAM_DTYPE_F32 ? static_cast<const void*>(c.data()) : c16.data();
}

Problem make_peaked_problem(int64_t n, int64_t v, int64_t d, engram_dtype dtype, uint64_t seed) {
    Problem p;
    p.n = n;
    p.v = v;
    p.d = d;
    p.dtype = dtype;
    std::mt19937_64 rng(seed);
    // Shared direction u carries the prior: c_j = g_j + (prior_j / h) u and
    // every e_i has h u, so e_i . c_j contains prior_j.
    const double h = 8.0;
    std::vector<float> u(static_cast<size_t>(d));
    fill_normal(u, 1.0f, seed + 1);
    double norm = 0.0;
    for (float x : u) norm += double(x) * x;
    for (float& x : u) x = float(x / std::sqrt(norm));

    p.c.resize(size_t(v * d));
    fill_normal(p.c, float(1.0 / std::sqrt(double(d))), seed + 2);  // g_j, |g_j| ~ 1
    std::vector<double> cdf(static_cast<size_t>(v));
    double acc = 0.0;
    for (int64_t j = 0; j < v; ++j) {
        const double prior = -p.zipf_exponent * std::log(double(j) + 1.0);
        acc += std::exp(prior);
        cdf[size_t(j)] = acc;
    }
    p.targets.resize(size_t(n));
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    for (int64_t i = 0; i < n; ++i) {
        const double x = uni(rng) * acc;
        p.targets[size_t(i)] = std::lower_bound(cdf.begin(), cdf.end(), x) - cdf.begin();
    }
    // e_i = s_i g_t + h u + noise; built before g_j gets its prior component.
    p.e.resize(size_t(n * d));
    fill_normal(p.e, float(0.5 / std::sqrt(double(d))), seed + 3);
    std::uniform_real_distribution<float> conf(2.0f, 14.0f);
    for (int64_t i = 0; i < n; ++i) {
        const float s = conf(rng);
        const float* g = &p.c[size_t(p.targets[size_t(i)] * d)];
        float* e = &p.e[size_t(i * d)];
        for (int64_t k = 0; k < d; ++k) e[k] += s * g[k] + float(h) * u[size_t(k)];
    }
    for (int64_t j = 0; j < v; ++j) {
        const float a = float(-p.zipf_exponent * std::log(double(j) + 1.0) / h);
        float* c = &p.c[size_t(j * d)];
        for (int64_t k = 0; k < d; ++k) c[k] += a * u[size_t(k)];
    }
    round_to(dtype, p.e, p.e16);
    round_to(dtype, p.c, p.c16);
    return p;
}

SampledReference reference_on_samples(const Problem& p, int samples, uint64_t seed) {
    SampledReference r;
    std::mt19937_64 rng(seed);
    for (int s = 0; s < samples && s < p.n; ++s)
        r.tokens.push_back(p.n <= samples ? s : int64_t(rng() % uint64_t(p.n)));
    const size_t m = r.tokens.size(), d = size_t(p.d), v = size_t(p.v);
    r.loss.resize(m);
    r.lse.resize(m);
    r.entropy.resize(m);
    r.p_target.resize(m);
    r.grad_e.assign(m * d, 0.0);
    std::vector<std::thread> pool;
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            std::vector<double> z(v);
            for (size_t s = t; s < m; s += threads) {
                const float* e = &p.e[size_t(r.tokens[s]) * d];
                double mx = -INFINITY;
                for (size_t j = 0; j < v; ++j) {
                    const float* c = &p.c[j * d];
                    double acc = 0.0;
                    for (size_t k = 0; k < d; ++k) acc += double(e[k]) * double(c[k]);
                    z[j] = acc;
                    mx = std::max(mx, acc);
                }
                double sum = 0.0;
                for (size_t j = 0; j < v; ++j) sum += std::exp(z[j] - mx);
                const double lse = mx + std::log(sum);
                const size_t t_id = size_t(p.targets[size_t(r.tokens[s])]);
                double ent = 0.0;
                double* ge = &r.grad_e[s * d];
                for (size_t j = 0; j < v; ++j) {
                    const double pj = std::exp(z[j] - lse);
                    ent -= pj * (z[j] - lse);
                    const double g = pj - (j == t_id ? 1.0 : 0.0);
                    const float* c = &p.c[j * d];
                    for (size_t k = 0; k < d; ++k) ge[k] += g * double(c[k]);
                }
                r.lse[s] = lse;
                r.loss[s] = lse - z[t_id];
                r.entropy[s] = ent;
                r.p_target[s] = std::exp(z[t_id] - lse);
            }
        });
    for (auto& th : pool) th.join();
    return r;
}

double max_error(const SampledReference& ref, const Problem& p, const float* loss,
                 const float* lse, const float* grad_e) {
    double err = 0.0;
    for (size_t s = 0; s < ref.tokens.size(); ++s) {
        const int64_t i = ref.tokens[s];
        if (loss) err = std::max(err, std::fabs(double(loss[i]) - ref.loss[s]));
        if (lse) err = std::max(err, std::fabs(double(lse[i]) - ref.lse[s]));
        if (grad_e)
            for (int64_t k = 0; k < p.d; ++k)
                err = std::max(err, std::fabs(double(grad_e[i * p.d + k]) - ref.grad_e[s * size_t(p.d) + size_t(k)]));
    }
    return err;
}

}  // namespace engram_bench
