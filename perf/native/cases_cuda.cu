// cases_cuda.cu — the CUDA benchmark cases: engram's variants through the C
// ABI on device buffers, and the naive cuBLAS materialised method
// (naive_cuda.hpp), timed with CUDA events in the same process on the same
// inputs. Built only when the CUDA backend is.
#include "cases_cuda.hpp"

#include "runtime_cublas.hpp"
#include <cuda_runtime_api.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "naive_cuda.hpp"

namespace engram_bench {

namespace {

void check(engram_status st, const char* what) {
    if (st != ENGRAM_OK) throw std::runtime_error(std::string(what) + ": " + engram_last_error());
}

void check_cuda(cudaError_t err, const char* what) {
    if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// A device buffer owned through the engram ABI.
class DeviceBuf {
public:
    DeviceBuf(engram_context* ctx, size_t bytes) : ctx_(ctx) {
        check(engram_device_alloc(ctx, bytes, &ptr_), "device alloc");
    }
    ~DeviceBuf() { engram_device_free(ctx_, ptr_); }
    DeviceBuf(const DeviceBuf&) = delete;
    DeviceBuf& operator=(const DeviceBuf&) = delete;
    template <class T = void>
    T* get() const { return static_cast<T*>(ptr_); }

private:
    engram_context* ctx_;
    void* ptr_ = nullptr;
};

class CudaCases : public CaseRunner {
public:
    CudaCases(const Settings& s, const Problem& p, const SampledReference& ref)
        : CaseRunner(s, p, "cuda"), ref_(ref) {
        check(engram_context_create(ENGRAM_BACKEND_CUDA, 0, &ctx_), "CUDA context");
        const size_t es = p.elem_bytes();
        e_ = std::make_unique<DeviceBuf>(ctx_, size_t(p.n * p.d) * es);
        c_ = std::make_unique<DeviceBuf>(ctx_, size_t(p.v * p.d) * es);
        t_ = std::make_unique<DeviceBuf>(ctx_, size_t(p.n) * 8);
        loss_ = std::make_unique<DeviceBuf>(ctx_, size_t(p.n) * 4);
        lse_ = std::make_unique<DeviceBuf>(ctx_, size_t(p.n) * 4);
        ge_ = std::make_unique<DeviceBuf>(ctx_, size_t(p.n * p.d) * 4);
        gc_ = std::make_unique<DeviceBuf>(ctx_, size_t(p.v * p.d) * 4);
        check(engram_copy_to_device(ctx_, e_->get(), p.e_data(), size_t(p.n * p.d) * es), "copy e");
        check(engram_copy_to_device(ctx_, c_->get(), p.c_data(), size_t(p.v * p.d) * es), "copy c");
        check(engram_copy_to_device(ctx_, t_->get(), p.targets.data(), size_t(p.n) * 8), "copy t");
        engram_cce_inputs_init(&in_);
        in_.dtype = p.dtype;
        in_.target_dtype = ENGRAM_DTYPE_I64;
        in_.n = p.n;
        in_.d = p.d;
        in_.v = p.v;
        in_.e = e_->get();
        in_.c = c_->get();
        in_.targets = t_->get();
        engram_cce_grads_init(&grads_);
        grads_.dtype = ENGRAM_DTYPE_F32;
        grads_.grad_e = ge_->get();
        grads_.grad_c = gc_->get();
        check(engram_event_create(ctx_, &start_), "event");
        check(engram_event_create(ctx_, &stop_), "event");
        check(engram_context_get_stream(ctx_, &stream_), "stream");
    }

    ~CudaCases() {
        engram_event_destroy(start_);
        engram_event_destroy(stop_);
        e_.reset(); c_.reset(); t_.reset(); loss_.reset(); lse_.reset(); ge_.reset(); gc_.reset();
        engram_context_destroy(ctx_);
    }

private:
    // Times fn with events on the context's stream (fn must enqueue on it).
    Timing time_events(const std::function<void()>& fn) {
        for (int i = 0; i < s_.warmup; ++i) fn();
        check(engram_synchronize(ctx_), "synchronize");
        Timing t;
        const RepetitionPolicy policy = s_.repetitions();
        double spent = 0.0;
        while (policy.more(t.ms, spent)) {
            check(engram_event_record(ctx_, start_), "record");
            fn();
            check(engram_event_record(ctx_, stop_), "record");
            float ms = 0.0f;
            check(engram_event_elapsed_ms(start_, stop_, &ms), "elapsed");
            t.ms.push_back(ms);
            spent += ms;
        }
        return t;
    }

    uint64_t engram_peak() const {
        engram_memory_stats st;
        engram_memory_stats_init(&st);
        engram_context_get_memory_stats(ctx_, &st);
        return st.peak_bytes;
    }

    std::vector<float> host(const DeviceBuf& b, size_t count) {
        std::vector<float> h(count);
        check(engram_copy_to_host(ctx_, h.data(), b.get(), count * 4), "copy back");
        return h;
    }

    Case engram_case(const char* op, const std::string& variant, float eps) override {
        Case c = base(op, "engram", variant.c_str());
        c.filter_eps = eps;
        const bool fwd_only = std::string(op) == "cce_forward";
        const bool fused = variant.rfind("fused", 0) == 0;
        engram_cce_options o;
        engram_cce_options_init(&o);
        o.filter_eps = eps;
        o.check_targets = 0;  // validated once below; a check would add a sync per call
        auto call = [&](bool verify) {
            o.reduction = verify ? ENGRAM_REDUCTION_NONE : ENGRAM_REDUCTION_MEAN;
            float* loss = loss_->get<float>();
            float* lse = lse_->get<float>();
            if (fwd_only) {
                check(engram_cce_forward(ctx_, &in_, &o, loss, lse), "forward");
            } else if (fused) {
                check(engram_cce_forward_backward(ctx_, &in_, &o, nullptr, loss, lse, &grads_), "forward_backward");
            } else {
                check(engram_cce_forward(ctx_, &in_, &o, loss, lse), "forward");
                check(engram_cce_backward(ctx_, &in_, &o, lse, nullptr, &grads_), "backward");
            }
        };
        {  // one checked call validates the targets
            engram_cce_options checked = o;
            checked.check_targets = 1;
            checked.reduction = ENGRAM_REDUCTION_MEAN;
            check(engram_cce_forward(ctx_, &in_, &checked, loss_->get<float>(), nullptr), "target check");
        }
        check(engram_context_reset_peak_memory(ctx_), "reset peak");
        c.timing = time_events([&] { call(false); });
        c.peak_extra_bytes = engram_peak();
        if (!fwd_only) {
            engram_op_stats st;
            engram_op_stats_init(&st);
            engram_context_get_op_stats(ctx_, &st);
            c.blocks_skipped_frac = filter_skipped_fraction(st);
        }
        call(true);
        check(engram_synchronize(ctx_), "synchronize");
        const std::vector<float> loss = host(*loss_, size_t(p_.n)), lse = host(*lse_, size_t(p_.n));
        std::vector<float> ge;
        if (!fwd_only) ge = host(*ge_, size_t(p_.n * p_.d));
        c.max_abs_err = max_error(ref_, p_, loss.data(), lse.data(), fwd_only ? nullptr : ge.data());
        const double kept = c.blocks_skipped_frac >= 0 ? 1.0 - c.blocks_skipped_frac : 1.0;
        c.flops = gemm_flops() * (fwd_only ? 1.0 : 2.0 + 2.0 * kept);
        c.bytes_moved = io_bytes(!fwd_only);
        if (!fwd_only && fused) c.notes = "CUDA forward_backward = forward + backward (two logit passes)";
        return c;
    }

    Case naive_case(bool backward) override {
        Case c = base(backward ? "cce_forward_backward" : "cce_forward", "naive", "materialized");
        NaiveCudaCce naive(static_cast<cudaStream_t>(stream_));
        NaiveCceProblem np;
        np.e = e_->get();
        np.c = c_->get();
        np.targets = t_->get();
        np.targets_i64 = true;
        np.n = p_.n;
        np.v = p_.v;
        np.d = p_.d;
        np.dtype = p_.dtype == ENGRAM_DTYPE_F32 ? NaiveDtype::f32
                   : p_.dtype == ENGRAM_DTYPE_F16 ? NaiveDtype::f16 : NaiveDtype::bf16;
        auto call = [&] {
            const bool ok = backward
                ? naive.forward_backward(np, loss_->get<float>(), ge_->get<float>(), gc_->get<float>())
                : naive.forward(np, loss_->get<float>(), lse_->get<float>());
            if (!ok) throw std::runtime_error("naive cuda: " + naive.error());
        };
        c.timing = time_events(call);
        c.peak_extra_bytes = naive.allocated_bytes();
        // Accuracy: lse, and grad_e of the mean scaled back to 1 per token.
        check(engram_synchronize(ctx_), "synchronize");
        if (!naive.forward(np, loss_->get<float>(), lse_->get<float>()))
            throw std::runtime_error("naive cuda: " + naive.error());
        check_cuda(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)), "naive sync");
        const std::vector<float> lse = host(*lse_, size_t(p_.n));
        std::vector<float> ge;
        if (backward) {
            ge = host(*ge_, size_t(p_.n * p_.d));
            for (float& x : ge) x *= float(p_.n);
        }
        c.max_abs_err = max_error(ref_, p_, nullptr, lse.data(), backward ? ge.data() : nullptr);
        c.flops = gemm_flops() * (backward ? 3.0 : 1.0);
        c.bytes_moved = io_bytes(backward) + 4.0 * double(p_.n) * double(p_.v) * (backward ? 6.0 : 2.0);
        c.notes = "cuBLAS GemmEx logits (fp32 [n, v]) + row kernels";
        return c;
    }

    const SampledReference& ref_;
    engram_context* ctx_ = nullptr;
    void* stream_ = nullptr;
    engram_event *start_ = nullptr, *stop_ = nullptr;
    std::unique_ptr<DeviceBuf> e_, c_, t_, loss_, lse_, ge_, gc_;
    engram_cce_inputs in_{};
    engram_cce_grads grads_{};
};

// Best GFLOP/s of five cuBLAS GEMMs A[n x d] B[v x d]^T in the benchmark's
// dtype with fp32 accumulation and output (what the naive method runs).
double cublas_gemm_probe(const Settings& s, cudaStream_t stream, engram_context* ctx,
                         engram_event* a, engram_event* b) {
    const cudaDataType_t in = s.dtype == "bf16" ? CUDA_R_16BF : s.dtype == "f16" ? CUDA_R_16F : CUDA_R_32F;
    const size_t es = s.dtype == "f32" ? 4 : 2;
    DeviceBuf x(ctx, size_t(s.n * s.d) * es), w(ctx, size_t(s.v * s.d) * es), y(ctx, size_t(s.n * s.v) * 4);
    check(engram_device_memset(ctx, x.get(), 0, size_t(s.n * s.d) * es), "memset");
    check(engram_device_memset(ctx, w.get(), 0, size_t(s.v * s.d) * es), "memset");
    cublasHandle_t h = nullptr;
    if (cublas_create(&h) != CUBLAS_STATUS_SUCCESS)
        throw std::runtime_error(std::string("cublasCreate failed: ") + cublas_library());
    cublas_set_stream(h, stream);
    const float one = 1.0f, zero = 0.0f;
    float best = 1e30f;
    for (int i = 0; i < 6; ++i) {
        check(engram_event_record(ctx, a), "record");
        // Row-major Y[n x v] = X W^T is column-major Y^T[v x n] = W X^T.
        const cublasStatus_t st = cublas_gemm_ex(h, CUBLAS_OP_T, CUBLAS_OP_N, int(s.v), int(s.n), int(s.d), &one,
                                               w.get(), in, int(s.d), x.get(), in, int(s.d), &zero, y.get(),
                                               CUDA_R_32F, int(s.v), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        check(engram_event_record(ctx, b), "record");
        if (st != CUBLAS_STATUS_SUCCESS) {
            cublas_destroy(h);
            throw std::runtime_error("cublasGemmEx failed in the GEMM probe");
        }
        float ms = 0;
        check(engram_event_elapsed_ms(a, b, &ms), "elapsed");
        if (i > 0) best = std::min(best, ms);
    }
    cublas_destroy(h);
    return 2.0 * double(s.n) * double(s.v) * double(s.d) / (best * 1e-3) / 1e9;
}

}  // namespace

std::string cuda_device_name() {
    engram_capabilities caps;
    engram_capabilities_init(&caps);
    if (engram_get_capabilities(&caps) != ENGRAM_OK || caps.cuda_device_count < 1) return "";
    engram_device_info info;
    engram_device_info_init(&info);
    if (engram_cuda_device_info(0, &info) != ENGRAM_OK) return "";
    return std::string(info.name) + " (" + std::to_string(info.sm_count) + " SMs, " +
           std::to_string(info.total_memory >> 30) + " GiB)";
}

// GPU limits: device-to-device copy bandwidth and a cuBLAS GEMM at the
// benchmark's size in its dtype (fp32 accumulation), both timed with events.
void cuda_probes(const Settings& s, Limits& limits) {
    engram_context* ctx = nullptr;
    check(engram_context_create(ENGRAM_BACKEND_CUDA, 0, &ctx), "CUDA context");
    void* stream = nullptr;
    check(engram_context_get_stream(ctx, &stream), "stream");
    engram_event *a = nullptr, *b = nullptr;
    check(engram_event_create(ctx, &a), "event");
    check(engram_event_create(ctx, &b), "event");
    {
        const size_t bytes = size_t(1) << 31;  // 2 GiB each way
        DeviceBuf x(ctx, bytes), y(ctx, bytes);
        float best = 1e30f;
        for (int i = 0; i < 5; ++i) {
            check(engram_event_record(ctx, a), "record");
            check_cuda(cudaMemcpyAsync(y.get(), x.get(), bytes, cudaMemcpyDeviceToDevice,
                                       static_cast<cudaStream_t>(stream)), "d2d copy");
            check(engram_event_record(ctx, b), "record");
            float ms = 0;
            check(engram_event_elapsed_ms(a, b, &ms), "elapsed");
            if (i > 0) best = std::min(best, ms);
        }
        limits.bandwidth_gbs = 2.0 * double(bytes) / (best * 1e-3) / 1e9;
        limits.bandwidth_probe = "device-to-device copy, 2 GiB, read + write counted, best of 4";
    }
    limits.gemm_gflops = cublas_gemm_probe(s, static_cast<cudaStream_t>(stream), ctx, a, b);
    limits.gemm_probe = "cuBLAS GemmEx " + s.dtype + " " + std::to_string(s.n) + "x" +
                        std::to_string(s.v) + "x" + std::to_string(s.d) + " (fp32 accumulate), best of 5";
    engram_event_destroy(a);
    engram_event_destroy(b);
    engram_context_destroy(ctx);
}

void run_cuda_cases(const Settings& s, const Problem& p, const SampledReference& ref,
                    std::vector<Case>& out) {
    CudaCases(s, p, ref).run(out);
}

}  // namespace engram_bench
