// qmatmul_pack.cpp — conversions between one-code-per-byte, the plain packed
// layout and the CPU-prepared (4-row interleaved) layout; bit order and
// layouts as documented in engram_qmatmul.h. Rows split statically over the
// workers; checks that can reject come before any write.
#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "ops/qmatmul/cpu/qmatmul_cpu.hpp"

namespace engram::cpu {

namespace {

template <class F>
void for_rows(engram_context& ctx, int64_t rows, F&& fn) {
    const int workers = int(std::min<int64_t>(ctx.pool->size(), rows));
    ctx.pool->run(workers, [&](int t, int parts) {
        int64_t r0, r1;
        static_range(rows, parts, t, r0, r1);
        for (int64_t r = r0; r < r1; ++r) fn(r);
    });
}

}  // namespace

void qmatmul_pack(engram_context& ctx, int64_t n_out, int64_t k, const uint8_t* codes,
                  uint32_t* words) {
    const int64_t total = n_out * k;
    for (int64_t i = 0; i < total; ++i)
        if (codes[i] > 3)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("codes[%lld] (row %lld, column %lld) is %u: a 2-bit code must be 0..3",
                        (long long)i, (long long)(i / k), (long long)(i % k), unsigned(codes[i])));
    const int64_t wpr = k / 16;
    for_rows(ctx, n_out, [&](int64_t r) {
        for (int64_t w = 0; w < wpr; ++w) {
            const uint8_t* c = codes + r * k + w * 16;
            uint32_t word = 0;
            for (int j = 0; j < 16; ++j) word |= uint32_t(c[j]) << (2 * j);
            words[r * wpr + w] = word;
        }
    });
}

void qmatmul_unpack(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* words,
                    uint8_t* codes) {
    const int64_t wpr = k / 16;
    for_rows(ctx, n_out, [&](int64_t r) {
        for (int64_t w = 0; w < wpr; ++w) {
            const uint32_t word = words[r * wpr + w];
            uint8_t* c = codes + r * k + w * 16;
            for (int j = 0; j < 16; ++j) c[j] = uint8_t((word >> (2 * j)) & 3u);
        }
    });
}

void qmatmul_prepare(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* plain,
                     uint32_t* prepared) {
    const int64_t wpr = k / 16, R = kQmatmulPreparedRows;
    const int64_t blocks = (n_out + R - 1) / R;
    for_rows(ctx, blocks, [&](int64_t b) {
        uint32_t* dst = prepared + b * R * wpr;
        for (int64_t w = 0; w < wpr; ++w)
            for (int64_t r = 0; r < R; ++r) {
                const int64_t row = b * R + r;
                dst[w * R + r] = row < n_out ? plain[row * wpr + w] : 0u;
            }
    });
}

void qmatmul_unprepare(engram_context& ctx, int64_t n_out, int64_t k, const uint32_t* prepared,
                       uint32_t* plain) {
    const int64_t wpr = k / 16, R = kQmatmulPreparedRows;
    const int64_t blocks = (n_out + R - 1) / R;
    // The padding rows of the last block must be zero: anything else means the
    // array is not a prepared matrix of this shape.
    const uint32_t* last = prepared + (blocks - 1) * R * wpr;
    for (int64_t row = n_out; row < blocks * R; ++row)
        for (int64_t w = 0; w < wpr; ++w)
            if (last[w * R + row % R] != 0)
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("prepared: padding row %lld (n_out is %lld) has a nonzero word %lld; "
                            "not a prepared %lld x %lld matrix",
                            (long long)row, (long long)n_out, (long long)w, (long long)n_out,
                            (long long)k));
    for_rows(ctx, blocks, [&](int64_t b) {
        const uint32_t* src = prepared + b * R * wpr;
        for (int64_t r = 0; r < R && b * R + r < n_out; ++r)
            for (int64_t w = 0; w < wpr; ++w) plain[(b * R + r) * wpr + w] = src[w * R + r];
    });
}

}  // namespace engram::cpu
