// qmatmul_quantize.cpp — round-to-nearest 2-bit quantization with per-group
// min/max (engram_qmatmul_quantize_rtn). Rows are split statically over the
// workers; every group is independent, so results never depend on threads.
#include <algorithm>
#include <cmath>
#include <cstring>

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

// Stores v in the scale dtype and returns the value stored (as fp32), so
// the codes are chosen for the grid that is actually kept.
float store_scale(void* base, engram_dtype dt, int64_t i, float v) {
    if (dt == ENGRAM_DTYPE_F16) {
        const uint16_t h = f32_to_f16(v);
        static_cast<uint16_t*>(base)[i] = h;
        return f16_to_f32(h);
    }
    static_cast<float*>(base)[i] = v;
    return v;
}

// q = the level of s q + z nearest to x: round((x - z) / s) clamped to
// [0, 3], computed in double so that the division and subtraction do not
// move a value across a rounding boundary (ties go to even).
uint32_t nearest_code(float x, float s, float z) {
    if (s == 0.0f) return 0;
    const double t = std::nearbyint((double(x) - double(z)) / double(s));
    if (!(t > 0.0)) return 0;  // also NaN (from an infinite s)
    return t >= 3.0 ? 3u : uint32_t(t);
}

}  // namespace

void qmatmul_quantize_rtn(engram_context& ctx, const QuantizeProblem& p) {
    const int64_t groups = p.k / p.group, words = p.k / 16;
    const int workers = int(std::min<int64_t>(ctx.pool->size(), p.n_out));
    ctx.pool->run(workers, [&](int t, int parts) {
        int64_t r0, r1;
        static_range(p.n_out, parts, t, r0, r1);
        for (int64_t r = r0; r < r1; ++r) {
            uint32_t* row_words = p.codes + r * words;
            std::memset(row_words, 0, size_t(words) * sizeof(uint32_t));
            for (int64_t g = 0; g < groups; ++g) {
                const int64_t c0 = g * p.group, base = r * p.k;
                float mn = load_weight(p.w, p.w_dtype, base + c0), mx = mn;
                bool nan = std::isnan(mn);
                for (int64_t c = c0 + 1; c < c0 + p.group; ++c) {
                    const float v = load_weight(p.w, p.w_dtype, base + c);
                    nan = nan || std::isnan(v);
                    mn = std::min(mn, v);
                    mx = std::max(mx, v);
                }
                if (nan) mn = mx = NAN;
                const float s = store_scale(p.scales, p.scale_dtype, r * groups + g, (mx - mn) / 3.0f);
                const float z = store_scale(p.zeros, p.scale_dtype, r * groups + g, mn);
                if (nan) continue;  // codes stay 0
                for (int64_t c = c0; c < c0 + p.group; ++c) {
                    const uint32_t q = nearest_code(load_weight(p.w, p.w_dtype, base + c), s, z);
                    row_words[c / 16] |= q << (2 * (c % 16));
                }
            }
        }
    });
}

}  // namespace engram::cpu
