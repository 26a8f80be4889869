// qmatmul_bitstack.cpp — see qmatmul_bitstack.hpp.
//
// Decomposition: the residual R (double, scratch) starts as W; per plane the
// sign bits are those of R, v the unit vector of a fixed 16-step power
// iteration on |R| (from v = 1 / sqrt(k)), u = |R| v; u and v are stored as
// f32 and R loses sign * u v^T computed from the stored values, so the next
// plane fits what the stored planes leave. Rows split statically for R v and
// the residual update; columns split statically for |R|^T u (each column a
// sum over rows in order), so every value is the same for any thread count.
//
// Product: per plane, xv[c] = fl(x[c] v[c]) once per activation row; then
// each weight row sums +-xv[c] (the sign bit flips the float's sign bit, no
// multiply) in 16 lanes, reduced in a fixed order, times u[r]; planes are
// added in order. Rows split statically over the workers. The row sum is
// AVX-512 where the CPU has it (bit-identical to the portable loop).
#include "ops/qmatmul/cpu/qmatmul_bitstack.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/cpu_features.hpp"
#include "ops/qmatmul/cpu/qmatmul_cpu.hpp"
#include "shared/half.h"

namespace engram::cpu {

namespace {

float load(const void* p, engram_dtype dt, int64_t i) {
    switch (dt) {
        case ENGRAM_DTYPE_F16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
        case ENGRAM_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
        default: return static_cast<const float*>(p)[i];
    }
}

void store(void* p, engram_dtype dt, int64_t i, float v) {
    switch (dt) {
        case ENGRAM_DTYPE_F16: static_cast<uint16_t*>(p)[i] = f32_to_f16(v); break;
        case ENGRAM_DTYPE_BF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(v); break;
        default: static_cast<float*>(p)[i] = v; break;
    }
}

constexpr int kPowerSteps = 16;

// The portable row sum (bitstack_row_sum_avx512's contract).
float row_sum_portable(const uint32_t* signs, const float* xv, int64_t words) {
    float lanes[16] = {};
    for (int64_t wd = 0; wd < words; ++wd) {
        const uint32_t neg = ~signs[wd];
        for (int t = 0; t < 32; ++t) {
            uint32_t bits;
            std::memcpy(&bits, &xv[wd * 32 + t], 4);
            bits ^= ((neg >> t) & 1u) << 31;
            float term;
            std::memcpy(&term, &bits, 4);
            lanes[t & 15] += term;
        }
    }
    float acc = 0.0f;
    for (int l = 0; l < 16; ++l) acc += lanes[l];
    return acc;
}

using RowSum = float (*)(const uint32_t*, const float*, int64_t);

RowSum row_sum() {
#if defined(ENGRAM_HAVE_X86_KERNELS)
    const engram_cpu_isa isa = detected_isa();
    if (isa == ENGRAM_CPU_ISA_AVX512 || isa == ENGRAM_CPU_ISA_AVX512_BF16) return bitstack_row_sum_avx512;
#endif
    return row_sum_portable;
}

template <class F>
void rows_parallel(engram_context& ctx, int64_t count, F&& body) {
    const int workers = int(std::max<int64_t>(1, std::min<int64_t>(ctx.pool->size(), count)));
    ctx.pool->run(workers, [&](int t, int parts) {
        int64_t b, e;
        static_range(count, parts, t, b, e);
        body(b, e);
    });
}

}  // namespace

void bitstack_decompose(engram_context& ctx, int64_t n_out, int64_t k, engram_dtype w_dtype,
                        const void* w, int planes, uint32_t* signs, float* u, float* v) {
    HostScratch rbuf(ctx, uint64_t(n_out) * uint64_t(k) * sizeof(double));
    HostScratch vbuf(ctx, uint64_t(k) * sizeof(double) * 2 + uint64_t(n_out) * sizeof(double));
    double* R = rbuf.as<double>();
    double* vd = vbuf.as<double>();
    double* vn = vd + k;
    double* ud = vn + k;
    rows_parallel(ctx, n_out, [&](int64_t b, int64_t e) {
        for (int64_t i = b * k; i < e * k; ++i) R[i] = double(load(w, w_dtype, i));
    });
    const int64_t words = k / 32;
    for (int j = 0; j < planes; ++j) {
        for (int64_t c = 0; c < k; ++c) vd[c] = 1.0 / std::sqrt(double(k));
        auto times_v = [&] {  // ud = |R| vd
            rows_parallel(ctx, n_out, [&](int64_t b, int64_t e) {
                for (int64_t r = b; r < e; ++r) {
                    double s = 0.0;
                    const double* row = R + r * k;
                    for (int64_t c = 0; c < k; ++c) s += std::fabs(row[c]) * vd[c];
                    ud[r] = s;
                }
            });
        };
        for (int step = 0; step < kPowerSteps; ++step) {
            times_v();
            // vn = |R|^T ud, columns split statically, rows summed in order.
            rows_parallel(ctx, k, [&](int64_t b, int64_t e) {
                for (int64_t c = b; c < e; ++c) vn[c] = 0.0;
                for (int64_t r = 0; r < n_out; ++r) {
                    const double* row = R + r * k;
                    const double ur = ud[r];
                    for (int64_t c = b; c < e; ++c) vn[c] += std::fabs(row[c]) * ur;
                }
            });
            double norm = 0.0;
            for (int64_t c = 0; c < k; ++c) norm += vn[c] * vn[c];
            norm = std::sqrt(norm);
            if (!(norm > 0.0)) break;  // R = 0: keep v, u comes out 0
            for (int64_t c = 0; c < k; ++c) vd[c] = vn[c] / norm;
        }
        times_v();
        float* uj = u + int64_t(j) * n_out;
        float* vj = v + int64_t(j) * k;
        for (int64_t c = 0; c < k; ++c) vj[c] = float(vd[c]);
        for (int64_t r = 0; r < n_out; ++r) uj[r] = float(ud[r]);
        uint32_t* sj = signs + int64_t(j) * n_out * words;
        rows_parallel(ctx, n_out, [&](int64_t b, int64_t e) {
            for (int64_t r = b; r < e; ++r) {
                double* row = R + r * k;
                const double ur = double(uj[r]);
                for (int64_t wd = 0; wd < words; ++wd) {
                    uint32_t bits = 0;
                    for (int t = 0; t < 32; ++t) {
                        const int64_t c = wd * 32 + t;
                        const bool plus = !(row[c] < 0.0);
                        bits |= uint32_t(plus) << t;
                        const double a = ur * double(vj[c]);
                        row[c] -= plus ? a : -a;
                    }
                    sj[r * words + wd] = bits;
                }
            }
        });
    }
}

void bitstack_product(engram_context& ctx, const BitstackPlanes& b, int p, int64_t m,
                      engram_dtype x_dtype, const void* x, engram_dtype y_dtype, void* y) {
    const int64_t k = b.k, n = b.n_out, words = k / 32;
    // xv[j][i][c] = fl(x[i, c] v_j[c]) for the p planes.
    HostScratch xbuf(ctx, uint64_t(p) * uint64_t(m) * uint64_t(k) * sizeof(float));
    HostScratch ybuf(ctx, uint64_t(m) * uint64_t(n) * sizeof(float));
    float* xv = xbuf.as<float>();
    float* yf = ybuf.as<float>();
    rows_parallel(ctx, m, [&](int64_t i0, int64_t i1) {
        for (int j = 0; j < p; ++j)
            for (int64_t i = i0; i < i1; ++i)
                for (int64_t c = 0; c < k; ++c)
                    xv[(int64_t(j) * m + i) * k + c] = load(x, x_dtype, i * k + c) * b.v[int64_t(j) * k + c];
    });
    static const RowSum sum = row_sum();
    rows_parallel(ctx, n, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t i = 0; i < m; ++i) {
                float out = 0.0f;
                for (int j = 0; j < p; ++j) {
                    const float acc = sum(b.signs + (int64_t(j) * n + r) * words,
                                          xv + (int64_t(j) * m + i) * k, words);
                    out += b.u[int64_t(j) * n + r] * acc;
                }
                yf[i * n + r] = out;
            }
    });
    for (int64_t i = 0; i < m * n; ++i) store(y, y_dtype, i, yf[i]);
}

}  // namespace engram::cpu
