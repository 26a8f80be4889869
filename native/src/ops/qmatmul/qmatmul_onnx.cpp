// qmatmul_onnx.cpp — see qmatmul_onnx.hpp.
#include "ops/qmatmul/qmatmul_onnx.hpp"

#include <cmath>
#include <cstring>

#include "shared/half.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "MatMulNBits rows are copied as the bytes of Engram's little-endian code words"
#endif

namespace engram {

namespace {

double load_scale(const void* base, engram_dtype dt, int64_t i) {
    if (dt == ENGRAM_DTYPE_F16) return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    return static_cast<const float*>(base)[i];
}

// v rounded to dt (to f32, then to f16 for F16: the one path both import
// and export use, so an export recognises exactly what an import stored) and
// stored at i; returns the stored value.
double store_scale(void* base, engram_dtype dt, int64_t i, double v) {
    if (dt == ENGRAM_DTYPE_F16) {
        const uint16_t h = f32_to_f16(float(v));
        static_cast<uint16_t*>(base)[i] = h;
        return f16_to_f32(h);
    }
    const float f = float(v);
    static_cast<float*>(base)[i] = f;
    return f;
}

double rounded(engram_dtype dt, double v) {
    if (dt == ENGRAM_DTYPE_F16) return f16_to_f32(f32_to_f16(float(v)));
    return double(float(v));
}

}  // namespace

double onnx_zero_point(const OnnxNbits& o, int64_t row, int64_t block) {
    switch (o.zp_kind) {
        case ENGRAM_ONNX_ZP_NONE: return 2.0;
        case ENGRAM_ONNX_ZP_PACKED: {
            const uint8_t byte = static_cast<const uint8_t*>(o.zero_points)[row * o.zp_row_bytes() + block / 4];
            return double((byte >> (2 * (block % 4))) & 3u);
        }
        default: return load_scale(o.zero_points, o.scale_dtype, row * o.blocks() + block);
    }
}

void onnx_to_engram(const OnnxNbits& o, engram_dtype scale_dtype, uint32_t* codes, void* scales,
                    void* zeros) {
    std::memcpy(codes, o.b, size_t(o.n * (o.k / 4)));
    for (int64_t r = 0; r < o.n; ++r)
        for (int64_t g = 0; g < o.blocks(); ++g) {
            const int64_t i = r * o.blocks() + g;
            const double s = load_scale(o.scales, o.scale_dtype, i);
            store_scale(scales, scale_dtype, i, s);
            // -(s * zp): exact in double (s has <= 24 significant bits, an
            // integer zp <= 2 bits, a float zp <= 24), one rounding to the dtype.
            store_scale(zeros, scale_dtype, i, -(s * onnx_zero_point(o, r, g)));
        }
}

bool engram_zero_points(const QWeight& w, engram_onnx_zero_points kind, std::vector<double>& zp,
                        int64_t& bad_row, int64_t& bad_group) {
    const int64_t groups = w.groups_per_row();
    zp.assign(size_t(w.n_out * groups), 0.0);
    for (int64_t r = 0; r < w.n_out; ++r)
        for (int64_t g = 0; g < groups; ++g) {
            const int64_t i = r * groups + g;
            const double s = load_scale(w.scales, w.scale_dtype, i);
            const double z = load_scale(w.zeros, w.scale_dtype, i);
            bool ok = false;
            if (kind == ENGRAM_ONNX_ZP_FLOAT) {
                // zp = -z / s in the scale dtype; s = 0 only for z = 0.
                if (s != 0.0) {
                    zp[size_t(i)] = rounded(w.scale_dtype, -z / s);
                    ok = std::isfinite(s) && std::isfinite(z);
                } else {
                    ok = z == 0.0;
                }
            } else {
                // The integer zp whose import gives back z exactly (as import
                // rounds -(s * zp) to the dtype): 2 for NONE, 0..3 for PACKED.
                for (int q = kind == ENGRAM_ONNX_ZP_NONE ? 2 : 0; q <= (kind == ENGRAM_ONNX_ZP_NONE ? 2 : 3) && !ok; ++q)
                    if (rounded(w.scale_dtype, -(s * double(q))) == z) {
                        zp[size_t(i)] = double(q);
                        ok = true;
                    }
            }
            if (!ok) {
                bad_row = r;
                bad_group = g;
                return false;
            }
        }
    return true;
}

void engram_to_onnx(const QWeight& w, engram_onnx_zero_points kind, const std::vector<double>& zp,
                    uint8_t* b, void* scales, void* zero_points) {
    const int64_t words = w.words_per_row(), groups = w.groups_per_row();
    for (int64_t r = 0; r < w.n_out; ++r) {
        uint8_t* row = b + r * (w.k / 4);
        const int64_t base = w.row_base(r), step = w.word_step();
        for (int64_t j = 0; j < words; ++j) std::memcpy(row + 4 * j, &w.codes[base + j * step], 4);
    }
    const size_t ss = engram_dtype_size(w.scale_dtype);
    std::memcpy(scales, w.scales, size_t(w.n_out * groups) * ss);
    if (kind == ENGRAM_ONNX_ZP_PACKED) {
        const int64_t row_bytes = (groups + 3) / 4;
        uint8_t* out = static_cast<uint8_t*>(zero_points);
        std::memset(out, 0, size_t(w.n_out * row_bytes));
        for (int64_t r = 0; r < w.n_out; ++r)
            for (int64_t g = 0; g < groups; ++g)
                out[r * row_bytes + g / 4] |= uint8_t(uint32_t(zp[size_t(r * groups + g)]) << (2 * (g % 4)));
    } else if (kind == ENGRAM_ONNX_ZP_FLOAT) {
        for (int64_t i = 0; i < w.n_out * groups; ++i) store_scale(zero_points, w.scale_dtype, i, zp[size_t(i)]);
    }
}

}  // namespace engram
