// test_util.cpp — see test_util.hpp.
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "shared/half.h"

namespace engram_test {

float round_to(engram_dtype dtype, float x) {
    switch (dtype) {
        case ENGRAM_DTYPE_F16: return engram::f16_to_f32(engram::f32_to_f16(x));
        case ENGRAM_DTYPE_BF16: return engram::bf16_to_f32(engram::f32_to_bf16(x));
        default: return x;
    }
}

std::vector<uint8_t> encode_floats(engram_dtype dtype, const std::vector<float>& values) {
    std::vector<uint8_t> raw(values.size() * engram_dtype_size(dtype));
    for (size_t i = 0; i < values.size(); ++i) {
        if (dtype == ENGRAM_DTYPE_F32) {
            std::memcpy(raw.data() + 4 * i, &values[i], 4);
        } else {
            const uint16_t h = dtype == ENGRAM_DTYPE_F16 ? engram::f32_to_f16(values[i])
                                                         : engram::f32_to_bf16(values[i]);
            std::memcpy(raw.data() + 2 * i, &h, 2);
        }
    }
    return raw;
}

std::vector<uint8_t> encode_ints(engram_dtype dtype, const std::vector<int64_t>& values) {
    std::vector<uint8_t> raw(values.size() * engram_dtype_size(dtype));
    for (size_t i = 0; i < values.size(); ++i) {
        if (dtype == ENGRAM_DTYPE_I32) {
            const int32_t t = int32_t(values[i]);
            std::memcpy(raw.data() + 4 * i, &t, 4);
        } else {
            std::memcpy(raw.data() + 8 * i, &values[i], 8);
        }
    }
    return raw;
}

std::vector<float> decode_floats(engram_dtype dtype, const void* raw, size_t count) {
    std::vector<float> out(count);
    const auto* bytes = static_cast<const uint8_t*>(raw);
    for (size_t i = 0; i < count; ++i) {
        if (dtype == ENGRAM_DTYPE_F32) {
            std::memcpy(&out[i], bytes + 4 * i, 4);
        } else {
            uint16_t h;
            std::memcpy(&h, bytes + 2 * i, 2);
            out[i] = dtype == ENGRAM_DTYPE_F16 ? engram::f16_to_f32(h) : engram::bf16_to_f32(h);
        }
    }
    return out;
}

const char* dtype_label(engram_dtype dtype) {
    switch (dtype) {
        case ENGRAM_DTYPE_F32: return "f32";
        case ENGRAM_DTYPE_F16: return "f16";
        case ENGRAM_DTYPE_BF16: return "bf16";
        case ENGRAM_DTYPE_I32: return "i32";
        case ENGRAM_DTYPE_I64: return "i64";
        case ENGRAM_DTYPE_U2: return "u2";
    }
    return "unknown";
}

bool verbose() {
    const char* v = std::getenv("ENGRAM_TEST_VERBOSE");
    return v && *v && std::string(v) != "0";
}

namespace {

std::string index_text(size_t i, int64_t cols) {
    std::ostringstream s;
    if (cols > 0)
        s << "[" << int64_t(i) / cols << ", " << int64_t(i) % cols << "]";
    else
        s << "[" << i << "]";
    return s.str();
}

template <class Ref>
::testing::AssertionResult compare(const char* what, const std::vector<float>& got,
                                   const std::vector<Ref>& ref, const std::vector<double>& bound,
                                   int64_t cols) {
    if (got.size() != ref.size() || bound.size() != ref.size())
        return ::testing::AssertionFailure()
               << what << ": size mismatch: got " << got.size() << " entries, reference "
               << ref.size() << ", bounds " << bound.size();
    size_t bad = 0;
    double worst = 0.0;
    size_t worst_at = 0;
    std::ostringstream list;
    list.precision(9);
    for (size_t i = 0; i < got.size(); ++i) {
        const double r = double(ref[i]);
        const double g = double(got[i]);
        const double err = std::fabs(g - r);
        const bool ok = std::isfinite(g) == std::isfinite(r) && (g == r || err <= bound[i]);
        const double ratio = bound[i] > 0 ? err / bound[i] : (err == 0 ? 0.0 : INFINITY);
        if (!(ratio <= worst) && std::isfinite(g)) {
            worst = ratio;
            worst_at = i;
        }
        if (!ok) {
            if (bad < 10)
                list << "\n    " << what << index_text(i, cols) << ": got " << g << ", expected "
                     << r << " (|diff| " << err << " > bound " << bound[i] << ")";
            ++bad;
        }
    }
    if (verbose())
        std::printf("[ verbose  ] %-28s worst |err|/bound = %.3g at %s\n", what, worst,
                    index_text(worst_at, cols).c_str());
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << what << ": " << bad << " of " << got.size() << " entries out of tolerance"
           << (bad > 10 ? " (first 10 listed)" : "") << list.str()
           << "\n    worst |err|/bound = " << worst;
}

}  // namespace

::testing::AssertionResult all_within(const char* what, const std::vector<float>& got,
                                      const std::vector<double>& ref,
                                      const std::vector<double>& bound, int64_t cols) {
    return compare(what, got, ref, bound, cols);
}

::testing::AssertionResult all_within(const char* what, const std::vector<float>& got,
                                      const std::vector<float>& other,
                                      const std::vector<double>& bound, int64_t cols) {
    return compare(what, got, other, bound, cols);
}

::testing::AssertionResult all_close(const char* what, const std::vector<float>& got,
                                     const std::vector<double>& ref, Tol tol, int64_t cols) {
    std::vector<double> bound(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) bound[i] = tol.atol + tol.rtol * std::fabs(ref[i]);
    return compare(what, got, ref, bound, cols);
}

engram_capabilities capabilities() {
    engram_capabilities caps;
    engram_capabilities_init(&caps);
    engram_get_capabilities(&caps);
    return caps;
}

std::string backend_unavailable_reason(engram_backend backend) {
    if (backend == ENGRAM_BACKEND_CPU) return "";
    const engram_capabilities caps = capabilities();
    if (caps.cuda_device_count > 0) return "";
    return std::string("no CUDA device: ") + caps.cuda_status;
}

const char* backend_label(engram_backend backend) {
    return backend == ENGRAM_BACKEND_CUDA ? "CUDA" : "CPU";
}

std::string status_text(engram_status status) {
    return std::string(engram_status_string(status)) + " (" + std::to_string(int(status)) + ")";
}

// --- Buffer -------------------------------------------------------------------

Buffer::Buffer(Context& ctx, size_t bytes) : ctx_(&ctx), bytes_(bytes) {
    if (bytes == 0) return;
    if (ctx.backend() == ENGRAM_BACKEND_CPU) {
        host_.resize(bytes);
        ptr_ = host_.data();
    } else {
        const engram_status st = engram_device_alloc(ctx.get(), bytes, &ptr_);
        if (st != ENGRAM_OK) {
            ADD_FAILURE() << "engram_device_alloc(" << bytes << "): " << engram_last_error();
            ptr_ = nullptr;
        }
    }
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& other) noexcept { *this = std::move(other); }

Buffer& Buffer::operator=(Buffer&& other) noexcept {
    if (this != &other) {
        release();
        ctx_ = other.ctx_;
        bytes_ = other.bytes_;
        host_ = std::move(other.host_);
        ptr_ = ctx_ && ctx_->backend() == ENGRAM_BACKEND_CPU ? (host_.empty() ? nullptr : host_.data())
                                                              : other.ptr_;
        other.ctx_ = nullptr;
        other.ptr_ = nullptr;
        other.bytes_ = 0;
    }
    return *this;
}

void Buffer::release() {
    if (ctx_ && ptr_ && ctx_->backend() == ENGRAM_BACKEND_CUDA) engram_device_free(ctx_->get(), ptr_);
    host_.clear();
    ptr_ = nullptr;
    bytes_ = 0;
    ctx_ = nullptr;
}

void Buffer::upload(const void* src, size_t bytes, size_t offset) {
    ASSERT_LE(offset + bytes, bytes_);
    if (bytes == 0) return;
    char* dst = static_cast<char*>(ptr_) + offset;
    if (ctx_->backend() == ENGRAM_BACKEND_CPU)
        std::memcpy(dst, src, bytes);
    else
        ASSERT_OK(engram_copy_to_device(ctx_->get(), dst, src, bytes));
}

void Buffer::download(void* dst, size_t bytes) const {
    ASSERT_LE(bytes, bytes_);
    if (bytes == 0) return;
    if (ctx_->backend() == ENGRAM_BACKEND_CPU)
        std::memcpy(dst, ptr_, bytes);
    else
        ASSERT_OK(engram_copy_to_host(ctx_->get(), dst, ptr_, bytes));
}

void Buffer::fill(uint8_t byte) {
    if (bytes_ == 0) return;
    if (ctx_->backend() == ENGRAM_BACKEND_CPU)
        std::memset(ptr_, byte, bytes_);
    else
        EXPECT_OK(engram_device_memset(ctx_->get(), ptr_, byte, bytes_));
}

std::vector<float> Buffer::floats(engram_dtype dtype) const {
    std::vector<uint8_t> raw(bytes_);
    download(raw.data(), bytes_);
    return decode_floats(dtype, raw.data(), bytes_ / engram_dtype_size(dtype));
}

// --- Context ------------------------------------------------------------------

Context::Context(engram_backend backend) : backend_(backend) {
    const engram_status st = engram_context_create(backend, 0, &ctx_);
    if (st != ENGRAM_OK) {
        error_ = status_text(st) + ": " + engram_last_error();
        ctx_ = nullptr;
    }
}

Context::~Context() { engram_context_destroy(ctx_); }

Buffer Context::upload(const void* src, size_t bytes) {
    Buffer b(*this, bytes);
    if (b) b.upload(src, bytes);
    return b;
}

Buffer Context::output(size_t bytes, uint8_t fill) {
    Buffer b(*this, bytes);
    if (b) b.fill(fill);
    return b;
}

// --- BackendTest --------------------------------------------------------------

void BackendTest::SetUp() {
    const std::string why = backend_unavailable_reason(GetParam());
    if (!why.empty()) GTEST_SKIP() << why;
    ctx_ = std::make_unique<Context>(GetParam());
    ASSERT_TRUE(ctx_->ok()) << "engram_context_create(" << backend_label(GetParam())
                            << "): " << ctx_->error();
}

std::string backend_param_name(const ::testing::TestParamInfo<engram_backend>& info) {
    return backend_label(info.param);
}

uint64_t op_counter(const engram_op_stats& stats, const char* name) {
    uint64_t value = 0;
    return engram_op_stats_counter(&stats, name, &value) == ENGRAM_OK ? value : 0;
}

}  // namespace engram_test
