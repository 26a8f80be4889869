// suite_memory.cpp — see suite_memory.hpp.
#include "suite_memory.hpp"

#include <cstring>

#include "shared/half.h"

namespace engram_suite {

void check_status(engram_status st, const char* what) {
    if (st != ENGRAM_OK) throw std::runtime_error(std::string(what) + ": " + engram_last_error());
}

SuiteBuffer::SuiteBuffer(engram_context* ctx, size_t bytes) : ctx_(ctx), bytes_(bytes) {
    if (bytes == 0) return;
    engram_backend backend = ENGRAM_BACKEND_CPU;
    check_status(engram_context_get_backend(ctx, &backend), "context backend");
    device_ = backend == ENGRAM_BACKEND_CUDA;
    if (device_) {
        check_status(engram_device_alloc(ctx, bytes, &ptr_), "device alloc");
    } else {
        host_.resize(bytes);
        ptr_ = host_.data();
    }
}

SuiteBuffer::~SuiteBuffer() { release(); }

SuiteBuffer& SuiteBuffer::operator=(SuiteBuffer&& other) noexcept {
    if (this != &other) {
        release();
        ctx_ = other.ctx_;
        device_ = other.device_;
        bytes_ = other.bytes_;
        host_ = std::move(other.host_);
        ptr_ = device_ ? other.ptr_ : (host_.empty() ? nullptr : host_.data());
        other.ptr_ = nullptr;
        other.bytes_ = 0;
    }
    return *this;
}

void SuiteBuffer::release() {
    if (device_ && ptr_) engram_device_free(ctx_, ptr_);
    ptr_ = nullptr;
    host_.clear();
}

void SuiteBuffer::upload(const void* src, size_t bytes) {
    if (bytes == 0) return;
    if (device_) check_status(engram_copy_to_device(ctx_, ptr_, src, bytes), "copy to device");
    else std::memcpy(ptr_, src, bytes);
}

void SuiteBuffer::fill(uint8_t value) {
    if (bytes_ == 0) return;
    if (device_) check_status(engram_device_memset(ctx_, ptr_, value, bytes_), "device memset");
    else std::memset(ptr_, value, bytes_);
}

std::vector<float> SuiteBuffer::floats(engram_dtype dtype) const {
    std::vector<uint8_t> raw(bytes_);
    if (bytes_ == 0) return {};
    if (device_) check_status(engram_copy_to_host(ctx_, raw.data(), ptr_, bytes_), "copy to host");
    else std::memcpy(raw.data(), ptr_, bytes_);
    const size_t size = engram_dtype_size(dtype), count = bytes_ / size;
    std::vector<float> out(count);
    for (size_t i = 0; i < count; ++i) {
        if (dtype == ENGRAM_DTYPE_F32) {
            std::memcpy(&out[i], raw.data() + 4 * i, 4);
        } else {
            uint16_t h;
            std::memcpy(&h, raw.data() + 2 * i, 2);
            out[i] = dtype == ENGRAM_DTYPE_F16 ? engram::f16_to_f32(h) : engram::bf16_to_f32(h);
        }
    }
    return out;
}

SuiteBuffer upload(engram_context* ctx, const void* src, size_t bytes) {
    SuiteBuffer b(ctx, bytes);
    b.upload(src, bytes);
    return b;
}

SuiteBuffer output(engram_context* ctx, size_t bytes) {
    SuiteBuffer b(ctx, bytes);
    b.fill(0xFF);
    return b;
}

}  // namespace engram_suite
