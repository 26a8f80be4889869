// qmatmul_formats_fuzz.cpp — see qmatmul_formats_fuzz.hpp. Each call builds a
// small valid problem from the input, then either checks a valid call
// exactly (bit-exact load and round trips; BitStack against the float64
// reference) or applies one fault and checks the status, the name in the
// message and that nothing was written.
#include "qmatmul_formats_fuzz.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "ops/qmatmul/reference/qmatmul_bitstack_reference.hpp"

namespace fuzz {
namespace {

void expect(const char* what, engram_status got, engram_status want, const char* needle) {
    Expect e{want, {}};
    if (needle && *needle) e.needles.push_back(needle);
    check_status(what, got, e);
}

std::string temp_path() {
    static const std::string path = "/tmp/engram-fuzz-" + std::to_string(getpid()) + ".eqm";
    return path;
}

std::vector<unsigned char> read_all(const std::string& path) {
    std::vector<unsigned char> out;
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
        unsigned char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
        std::fclose(f);
    }
    return out;
}

void write_all(const std::string& path, const std::vector<unsigned char>& bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    FUZZ_CHECK(f != nullptr, "cannot write %s", path.c_str());
    if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
}

// A random valid quantized matrix in the arena.
struct QW {
    engram_qweight w{};
    uint32_t* codes = nullptr;
    uint8_t* scales = nullptr;
    uint8_t* zeros = nullptr;
    size_t sbytes = 0;
};

QW random_qweight(FuzzedDataProvider& in, Arena& a, Rng& rng) {
    QW q;
    engram_qweight_init(&q.w);
    const int64_t g = int64_t(32) << in.ConsumeIntegralInRange(0, 2);
    q.w.group_size = int32_t(g);
    q.w.k = g * in.ConsumeIntegralInRange<int64_t>(1, 3);
    q.w.n_out = in.ConsumeIntegralInRange<int64_t>(1, 9);
    q.w.scale_dtype = in.ConsumeBool() ? ENGRAM_DTYPE_F16 : ENGRAM_DTYPE_F32;
    q.w.layout = in.ConsumeBool() ? ENGRAM_QLAYOUT_CPU_PREPARED : ENGRAM_QLAYOUT_PLAIN;
    uint64_t words = 0;
    engram_qmatmul_code_words(q.w.n_out, q.w.k, engram_qlayout(q.w.layout), &words);
    std::vector<uint32_t> c(words);
    for (uint32_t& x : c) x = uint32_t(rng.next());
    if (q.w.layout == ENGRAM_QLAYOUT_CPU_PREPARED)  // zero padding rows
        for (int64_t r = q.w.n_out; r < (q.w.n_out + 3) / 4 * 4; ++r)
            for (int64_t j = 0; j < q.w.k / 16; ++j) c[size_t(((r / 4) * (q.w.k / 16) + j) * 4 + r % 4)] = 0;
    q.sbytes = size_t(q.w.n_out * (q.w.k / g)) * (q.w.scale_dtype == ENGRAM_DTYPE_F16 ? 2 : 4);
    std::vector<uint8_t> s(q.sbytes), z(q.sbytes);
    for (uint8_t& x : s) x = uint8_t(rng.next());
    for (uint8_t& x : z) x = uint8_t(rng.next());
    q.codes = reinterpret_cast<uint32_t*>(a.input(c.data(), words * 4, "codes"));
    q.scales = a.input(s.data(), s.size(), "scales");
    q.zeros = a.input(z.data(), z.size(), "zeros");
    q.w.codes = q.codes;
    q.w.code_words = words;
    q.w.scales = q.scales;
    q.w.zeros = q.zeros;
    return q;
}

// Save a random matrix, damage the file (or not), load it back.
void fuzz_file(FuzzedDataProvider& in, engram_context* ctx, Rng& rng) {
    Arena a;
    QW q = random_qweight(in, a, rng);
    const std::string path = temp_path();
    g_trace = "qmatmul_save/load n_out=" + std::to_string(q.w.n_out) + " k=" + std::to_string(q.w.k);
    expect("engram_qmatmul_save", engram_qmatmul_save(ctx, &q.w, path.c_str()), ENGRAM_OK, "");
    std::vector<unsigned char> f = read_all(path);
    FUZZ_CHECK(f.size() == 64 + q.w.code_words * 4 + 2 * q.sbytes, "file of %zu bytes", f.size());
    // 0 intact; 1 a burst of 1..4 changed bytes (CRC-32 catches every burst
    // of up to 32 bits); 2 truncated; 3 extended.
    const int damage = in.ConsumeIntegralInRange(0, 3);
    const size_t at = size_t(rng.below(int64_t(f.size())));
    bool version = false;
    if (damage == 1) {
        const size_t len = std::min<size_t>(f.size() - at, size_t(1 + rng.below(4)));
        for (size_t i = 0; i < len; ++i) f[at + i] ^= uint8_t(i == 0 ? 1 + rng.below(255) : rng.below(256));
        // A changed version field (bytes 8..11) is "unsupported" unless the
        // magic changed too.
        const bool magic = at < 8;
        version = !magic && at < 12 && (f[8] | f[9] << 8 | f[10] << 16 | uint32_t(f[11]) << 24) != 1u;
    } else if (damage == 2) {
        f.resize(at);
    } else if (damage == 3) {
        f.push_back(uint8_t(rng.next()));
    }
    write_all(path, f);
    uint32_t* codes = reinterpret_cast<uint32_t*>(a.output(q.w.code_words * 4, "out codes"));
    uint8_t* s = a.output(q.sbytes, "out scales");
    uint8_t* z = a.output(q.sbytes, "out zeros");
    a.snapshot();
    const engram_status st = engram_qmatmul_load(ctx, path.c_str(), q.w.n_out, q.w.k, q.w.group_size,
                                                 engram_dtype(q.w.scale_dtype), engram_qlayout(q.w.layout),
                                                 codes, q.w.code_words, s, z);
    if (damage == 0) {
        expect("engram_qmatmul_load", st, ENGRAM_OK, "");
        FUZZ_CHECK(std::memcmp(codes, q.codes, q.w.code_words * 4) == 0 && std::memcmp(s, q.scales, q.sbytes) == 0 &&
                       std::memcmp(z, q.zeros, q.sbytes) == 0,
                   "load is not bit-exact");
    } else {
        expect("engram_qmatmul_load", st, version ? ENGRAM_ERR_UNSUPPORTED : ENGRAM_ERR_INVALID_ARGUMENT, "path");
        a.check_untouched("a failed engram_qmatmul_load", false);
    }
    std::remove(path.c_str());
}

// ORT -> Engram -> ORT with packed zero points is exact; or one fault.
void fuzz_onnx(FuzzedDataProvider& in, engram_context* ctx, Rng& rng) {
    Arena a;
    engram_onnx_nbits o;
    engram_onnx_nbits_init(&o);
    o.block_size = int32_t(32) << in.ConsumeIntegralInRange(0, 2);
    o.k = o.block_size * in.ConsumeIntegralInRange<int64_t>(1, 3);
    o.n = in.ConsumeIntegralInRange<int64_t>(1, 9);
    o.scale_dtype = in.ConsumeBool() ? ENGRAM_DTYPE_F16 : ENGRAM_DTYPE_F32;
    o.zero_points_kind = in.ConsumeBool() ? ENGRAM_ONNX_ZP_PACKED : ENGRAM_ONNX_ZP_NONE;
    const int64_t blocks = o.k / o.block_size;
    const size_t ss = o.scale_dtype == ENGRAM_DTYPE_F16 ? 2 : 4;
    std::vector<uint8_t> b(static_cast<size_t>(o.n * o.k / 4)), s(size_t(o.n * blocks) * ss), zp(size_t(o.n * ((blocks + 3) / 4)));
    for (uint8_t& x : b) x = uint8_t(rng.next());
    for (uint8_t& x : zp) x = uint8_t(rng.next());
    for (int64_t r = 0; r < o.n; ++r)  // padding bits of each row's zero points are 0
        if (blocks % 4) zp[size_t(r * ((blocks + 3) / 4) + blocks / 4)] &= uint8_t((1u << (2 * (blocks % 4))) - 1);
    // Finite scales of magnitude [0.125, 0.5): finite for the export to match
    // them, and never 0, where every zero point would import alike and the
    // export could not give back the original one.
    for (size_t i = 0; i < size_t(o.n * blocks); ++i) {
        const float v = float((0.125 + 0.375 * rng.uniform()) * (rng.chance(0.5) ? -1.0 : 1.0));
        if (ss == 4) std::memcpy(&s[4 * i], &v, 4);
        else {
            const uint16_t h = uint16_t(0x3000 + rng.below(0x1000)) | uint16_t(rng.chance(0.5) ? 0x8000 : 0);
            std::memcpy(&s[2 * i], &h, 2);
        }
    }
    o.b = a.input(b.data(), b.size(), "src->b");
    o.b_bytes = b.size();
    o.scales = a.input(s.data(), s.size(), "src->scales");
    o.scale_bytes = s.size();
    if (o.zero_points_kind == ENGRAM_ONNX_ZP_PACKED) {
        o.zero_points = a.input(zp.data(), zp.size(), "src->zero_points");
        o.zero_point_bytes = zp.size();
    }
    const size_t words = size_t(o.n * o.k / 16);
    uint32_t* codes = reinterpret_cast<uint32_t*>(a.output(words * 4, "codes"));
    uint8_t* es = a.output(s.size(), "scales");
    uint8_t* ez = a.output(s.size(), "zeros");
    g_trace = "qmatmul_import_onnx n=" + std::to_string(o.n) + " k=" + std::to_string(o.k);
    const int fault = in.ConsumeIntegralInRange(0, 7);
    engram_onnx_nbits src = o;
    const char* needle = "";
    engram_status want = ENGRAM_ERR_INVALID_ARGUMENT;
    uint64_t cw = words;
    void* zarg = ez;
    switch (fault) {
        case 1: src.bits = 4; want = ENGRAM_ERR_UNSUPPORTED; needle = "src->bits"; break;
        case 2: src.b_bytes += 1; needle = "src->b_bytes"; break;
        case 3: src.k += 16; needle = "src->k"; break;
        case 4: cw += 1; needle = "code_words"; break;
        case 5: zarg = es; needle = "zeros"; break;
        case 6: src.zero_points_kind = 5; needle = "src->zero_points_kind"; break;
        default: break;  // valid
    }
    a.snapshot();
    const engram_status st = engram_qmatmul_import_onnx(ctx, &src, engram_dtype(o.scale_dtype), codes, cw, es, zarg);
    if (fault >= 1 && fault <= 6) {
        expect("engram_qmatmul_import_onnx", st, want, needle);
        a.check_untouched("a failed engram_qmatmul_import_onnx", false);
        return;
    }
    expect("engram_qmatmul_import_onnx", st, ENGRAM_OK, "");
    a.check_untouched("a valid engram_qmatmul_import_onnx", true);
    FUZZ_CHECK(std::memcmp(codes, b.data(), b.size()) == 0, "imported codes differ from B");
    engram_qweight w;
    engram_qweight_init(&w);
    w.scale_dtype = o.scale_dtype;
    w.group_size = o.block_size;
    w.n_out = o.n;
    w.k = o.k;
    w.codes = codes;
    w.code_words = words;
    w.scales = es;
    w.zeros = ez;
    engram_onnx_nbits dst = o;
    dst.b = a.output(b.size(), "dst->b");
    dst.scales = a.output(s.size(), "dst->scales");
    dst.zero_points = o.zero_points_kind == ENGRAM_ONNX_ZP_PACKED ? a.output(zp.size(), "dst->zero_points") : nullptr;
    expect("engram_qmatmul_export_onnx", engram_qmatmul_export_onnx(ctx, &w, &dst), ENGRAM_OK, "");
    FUZZ_CHECK(std::memcmp(dst.b, b.data(), b.size()) == 0 && std::memcmp(dst.scales, s.data(), s.size()) == 0,
               "export of an import differs (B or scales)");
    if (o.zero_points_kind == ENGRAM_ONNX_ZP_PACKED)
        FUZZ_CHECK(std::memcmp(dst.zero_points, zp.data(), zp.size()) == 0, "export of an import differs (zero points)");
}

// BitStack decomposition then product over p planes, against the reference.
void fuzz_bitstack(FuzzedDataProvider& in, engram_context* ctx, Rng& rng) {
    Arena a;
    const int64_t n = in.ConsumeIntegralInRange<int64_t>(1, 9), k = 32 * in.ConsumeIntegralInRange<int64_t>(1, 3);
    const int planes = in.ConsumeIntegralInRange(1, 4), p = in.ConsumeIntegralInRange(1, planes);
    const int64_t m = in.ConsumeIntegralInRange<int64_t>(1, 5);
    g_trace = "qmatmul_bitstack n=" + std::to_string(n) + " k=" + std::to_string(k) + " planes=" +
              std::to_string(planes) + " p=" + std::to_string(p) + " m=" + std::to_string(m);
    std::vector<float> w(static_cast<size_t>(n * k)), x(static_cast<size_t>(m * k));
    for (float& v : w) v = float(rng.sym(2.0));
    for (float& v : x) v = float(rng.sym(1.0));
    const float* wp = reinterpret_cast<const float*>(a.input(w.data(), w.size() * 4, "w"));
    const size_t sw = size_t(planes * n * (k / 32));
    uint32_t* signs = reinterpret_cast<uint32_t*>(a.output(sw * 4, "signs"));
    float* u = reinterpret_cast<float*>(a.output(size_t(planes * n) * 4, "row_scales"));
    float* v = reinterpret_cast<float*>(a.output(size_t(planes * k) * 4, "col_scales"));
    const int fault = in.ConsumeIntegralInRange(0, 5);
    if (fault == 1 || fault == 2) {
        a.snapshot();
        const engram_status st = fault == 1
            ? engram_qmatmul_bitstack_decompose(ctx, n, k + 16, ENGRAM_DTYPE_F32, wp, planes, signs, sw, u, v)
            : engram_qmatmul_bitstack_decompose(ctx, n, k, ENGRAM_DTYPE_F32, wp, planes, signs, sw + 1, u, v);
        expect("engram_qmatmul_bitstack_decompose", st, ENGRAM_ERR_INVALID_ARGUMENT, fault == 1 ? "k" : "sign_words");
        a.check_untouched("a failed engram_qmatmul_bitstack_decompose", false);
        return;
    }
    expect("engram_qmatmul_bitstack_decompose",
           engram_qmatmul_bitstack_decompose(ctx, n, k, ENGRAM_DTYPE_F32, wp, planes, signs, sw, u, v), ENGRAM_OK, "");
    engram_bitstack b;
    engram_bitstack_init(&b);
    b.planes = planes;
    b.n_out = n;
    b.k = k;
    b.signs = signs;
    b.sign_words = sw;
    b.row_scales = u;
    b.col_scales = v;
    const float* xp = reinterpret_cast<const float*>(a.input(x.data(), x.size() * 4, "x"));
    float* y = reinterpret_cast<float*>(a.output(size_t(m * n) * 4, "y"));
    a.snapshot();
    if (fault == 3 || fault == 4) {
        const engram_status st = fault == 3
            ? engram_qmatmul_bitstack(ctx, &b, planes + 1, m, ENGRAM_DTYPE_F32, xp, ENGRAM_DTYPE_F32, y)
            : engram_qmatmul_bitstack(ctx, &b, p, m, ENGRAM_DTYPE_F32, xp, ENGRAM_DTYPE_F32, u);
        expect("engram_qmatmul_bitstack", st, ENGRAM_ERR_INVALID_ARGUMENT, fault == 3 ? "p" : "");
        a.check_untouched("a failed engram_qmatmul_bitstack", false);
        return;
    }
    expect("engram_qmatmul_bitstack", engram_qmatmul_bitstack(ctx, &b, p, m, ENGRAM_DTYPE_F32, xp, ENGRAM_DTYPE_F32, y),
           ENGRAM_OK, "");
    a.check_untouched("a valid engram_qmatmul_bitstack", true);
    engram_test::RefBitstack ref;
    ref.n_out = n;
    ref.k = k;
    ref.planes = planes;
    ref.signs.assign(signs, signs + sw);
    ref.u.assign(u, u + planes * n);
    ref.v.assign(v, v + planes * k);
    std::vector<double> mag;
    const std::vector<double> xd(x.begin(), x.end());
    const std::vector<double> yr = engram_test::ref_bitstack_matmul(ref, p, m, xd, &mag);
    for (size_t i = 0; i < yr.size(); ++i) {
        const double bound = std::ldexp(1.0, -24) * double(k + p + 3) * mag[i] + 1e-38;
        FUZZ_CHECK(std::fabs(double(y[i]) - yr[i]) <= bound, "bitstack y[%zu] = %.9g, reference %.9g (bound %.3g)", i,
                   double(y[i]), yr[i], bound);
    }
}

}  // namespace

void fuzz_qmatmul_formats(FuzzedDataProvider& in, engram_context* ctx, int which) {
    Rng rng(in.ConsumeIntegral<uint64_t>());
    if (which == 0) fuzz_file(in, ctx, rng);
    else if (which == 1) fuzz_onnx(in, ctx, rng);
    else fuzz_bitstack(in, ctx, rng);
}

}  // namespace fuzz
