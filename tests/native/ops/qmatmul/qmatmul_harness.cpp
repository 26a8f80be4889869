// qmatmul_harness.cpp — see qmatmul_harness.hpp.
#include "ops/qmatmul/qmatmul_harness.hpp"

#include <cmath>

#include "../../common/test_util.hpp"
#include "qmatmul_tolerance.hpp"

namespace engram_test {

std::string QSpec::label() const {
    static const char* kinds[] = {"random", "equal_groups", "huge_scales", "tiny_scales"};
    return "n_out=" + std::to_string(n_out) + " k=" + std::to_string(k) +
           " G=" + std::to_string(group) + " m=" + std::to_string(m) + " x=" +
           dtype_label(x_dtype) + " y=" + dtype_label(y_dtype) + " s=" + dtype_label(scale_dtype) +
           (layout == ENGRAM_QLAYOUT_PLAIN ? " plain" : " prepared") + " " +
           kinds[int(values)] + " seed=" + std::to_string(seed);
}

engram_qweight QData::qweight() const {
    engram_qweight w;
    engram_qweight_init(&w);
    w.scale_dtype = spec.scale_dtype;
    w.group_size = int32_t(spec.group);
    w.layout = spec.layout;
    w.n_out = spec.n_out;
    w.k = spec.k;
    w.codes = words.data();
    w.code_words = words.size();
    w.scales = scales_raw.data();
    w.zeros = zeros_raw.data();
    return w;
}

QData make_qdata(const QSpec& spec) {
    QData d;
    d.spec = spec;
    Rng rng(spec.seed);
    RefQWeight& w = d.ref;
    w.n_out = spec.n_out;
    w.k = spec.k;
    w.group = spec.group;
    w.words.resize(size_t(spec.n_out * spec.k / 16));
    for (uint32_t& word : w.words) word = rng.bits32();
    const size_t ns = size_t(spec.n_out * (spec.k / spec.group));
    const bool f16 = spec.scale_dtype == ENGRAM_DTYPE_F16;
    std::vector<float> s(ns), z(ns);
    double x_mag = 1.0;
    for (size_t i = 0; i < ns; ++i) {
        const double sign = rng.chance(0.5) ? -1.0 : 1.0;
        switch (spec.values) {
            case QValues::Random:
                s[i] = float(sign * rng.uniform(0.01, 1.0));
                z[i] = float(rng.normal());
                break;
            case QValues::EqualGroups:
                s[i] = 0.0f;
                z[i] = float(rng.normal());
                break;
            case QValues::HugeScales:
                s[i] = float(sign * rng.uniform(0.5, 1.0) * (f16 ? 6.0e4 : 1e30));
                z[i] = float(rng.normal() * (f16 ? 2.0e4 : 1e30));
                x_mag = 1e-6;
                break;
            case QValues::TinyScales:
                s[i] = float(sign * rng.uniform(0.5, 1.0) * (f16 ? 1e-7 : 1e-35));
                z[i] = float(rng.normal() * (f16 ? 1e-7 : 1e-35));
                break;
        }
    }
    const engram_dtype sd = spec.scale_dtype;
    d.scales_raw = encode_floats(sd, s);
    d.zeros_raw = encode_floats(sd, z);
    for (float v : decode_floats(sd, d.scales_raw.data(), ns)) w.scales.push_back(v);
    for (float v : decode_floats(sd, d.zeros_raw.data(), ns)) w.zeros.push_back(v);
    std::vector<float> x(size_t(spec.m * spec.k));
    for (float& v : x) v = float(rng.normal() * x_mag);
    d.x_raw = encode_floats(spec.x_dtype, x);
    for (float v : decode_floats(spec.x_dtype, d.x_raw.data(), x.size())) d.x.push_back(v);
    d.words = spec.layout == ENGRAM_QLAYOUT_PLAIN ? w.words : ref_prepare(w.n_out, w.k, w.words);
    return d;
}

std::vector<float> run_qmatmul(const QData& d, int threads) {
    engram_context* ctx = nullptr;
    EXPECT_EQ(ENGRAM_OK, engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx));
    if (!ctx) return {};
    EXPECT_EQ(ENGRAM_OK, engram_context_set_threads(ctx, threads));
    const engram_qweight w = d.qweight();
    const size_t n = size_t(d.spec.m * d.spec.n_out);
    const size_t ys = engram_dtype_size(d.spec.y_dtype);
    std::vector<uint8_t> y(n * ys, 0xFF);
    const engram_status st = engram_qmatmul(ctx, &w, d.spec.m, d.spec.x_dtype, d.x_raw.data(),
                                            d.spec.y_dtype, y.data());
    EXPECT_EQ(ENGRAM_OK, st) << d.spec.label() << ": " << engram_last_error();
    engram_context_destroy(ctx);
    return decode_floats(d.spec.y_dtype, y.data(), n);
}

void qmatmul_expected(const QData& d, std::vector<double>& ref, std::vector<double>& bound) {
    // One error model for the tests and the case suite (qmatmul_tolerance.hpp).
    engram_suite::QmatmulExpected e =
        engram_suite::expect_qmatmul(d.ref, d.spec.m, d.x, d.spec.y_dtype);
    ref = std::move(e.y);
    bound = std::move(e.bound);
}

}  // namespace engram_test
