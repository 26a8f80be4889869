// attention_tolerance.cpp — see attention_tolerance.hpp.
#include "attention_tolerance.hpp"

#include <cmath>

namespace engram_suite {

namespace {

// The bound of `rows` output rows of D entries; row r kept kept(r) tokens.
template <class Kept>
std::vector<double> row_bounds(int64_t rows, int64_t head_dim, engram_dtype out_dtype,
                               const engram_test::RefDecodeOutput& ref, Kept kept) {
    const double u = std::ldexp(1.0, -24);
    const double out_u = out_dtype == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -8)
                         : out_dtype == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11)
                                                         : u;
    const int64_t D = head_dim;
    std::vector<double> bound(ref.out.size());
    for (int64_t r = 0; r < rows; ++r) {
        const double n = double(kept(r));
        const double rel = 4.0 * double(D + 2) * u * ref.score_abs[size_t(r)] + (2.0 * n + 16.0) * u;
        for (int64_t e = 0; e < D; ++e) {
            const size_t i = size_t(r * D + e);
            bound[i] = 2.0 * ref.abs_out[i] * rel + std::fabs(ref.out[i]) * out_u + 1e-30;
        }
    }
    return bound;
}

}  // namespace

std::vector<double> attention_decode_bound(int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                           engram_dtype out_dtype,
                                           const engram_test::RefDecodeOutput& ref) {
    const int64_t G = q_heads / kv_heads;
    return row_bounds(q_heads, head_dim, out_dtype, ref,
                      [&](int64_t h) { return ref.kept[size_t(h / G)]; });
}

std::vector<double> attention_prefill_bound(int64_t q_heads, int64_t kv_heads, int64_t tokens,
                                            int64_t head_dim, engram_dtype out_dtype,
                                            const engram_test::RefDecodeOutput& ref) {
    const int64_t G = q_heads / kv_heads;
    return row_bounds(q_heads * tokens, head_dim, out_dtype, ref, [&](int64_t r) {
        const int64_t h = r / tokens, i = r % tokens;
        return ref.kept[size_t((h / G) * tokens + i)];
    });
}

}  // namespace engram_suite
