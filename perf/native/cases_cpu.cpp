// cases_cpu.cpp — the CPU benchmark cases: engram's variants and the naive
// materialised method, timed in the same process on the same inputs.
#include "cases_cpu.hpp"

#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

#include "naive_cpu.hpp"

namespace engram_bench {

namespace {

void check(engram_status st, const char* what) {
    if (st != ENGRAM_OK)
        throw std::runtime_error(std::string(what) + ": " + engram_last_error());
}

class CpuCases : public CaseRunner {
public:
    CpuCases(const Settings& s, const Problem& p, const SampledReference& ref)
        : CaseRunner(s, p, "cpu"), ref_(ref), loss_(size_t(p.n)), lse_(size_t(p.n)),
          ge_(size_t(p.n * p.d)), gc_(size_t(p.v * p.d)) {
        check(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx_), "context");
        check(engram_context_set_threads(ctx_, s.threads), "threads");
        engram_cce_inputs_init(&in_);
        in_.dtype = p.dtype;
        in_.target_dtype = ENGRAM_DTYPE_I64;
        in_.n = p.n;
        in_.d = p.d;
        in_.v = p.v;
        in_.e = p.e_data();
        in_.c = p.c_data();
        in_.targets = p.targets.data();
        engram_cce_grads_init(&grads_);
        grads_.dtype = ENGRAM_DTYPE_F32;
        grads_.grad_e = ge_.data();
        grads_.grad_c = gc_.data();
    }
    ~CpuCases() { engram_context_destroy(ctx_); }

private:
    Case naive_case(bool backward) override {
        return backward ? naive_forward_backward() : naive_forward();
    }

    // Times fn; peak scratch from the context, peak RSS from the OS.
    void measure(Case& c, const std::function<void()>& fn, const std::function<uint64_t()>& peak) {
        for (int i = 0; i < s_.warmup; ++i) fn();
        const RepetitionPolicy policy = s_.repetitions();
        double spent = 0.0;
        while (policy.more(c.timing.ms, spent)) {
            check(engram_context_reset_peak_memory(ctx_), "reset peak");
            const int64_t rss0 = rss_bytes();
            const bool rss_ok = reset_peak_rss();
            const double t0 = now_ms();
            fn();
            c.timing.ms.push_back(now_ms() - t0);
            spent += c.timing.ms.back();
            c.peak_extra_bytes = std::max(c.peak_extra_bytes, peak());
            if (rss_ok)
                c.rss_peak_delta_bytes = std::max<int64_t>(c.rss_peak_delta_bytes, peak_rss_bytes() - rss0);
        }
    }

    uint64_t engram_peak() const {
        engram_memory_stats st;
        engram_memory_stats_init(&st);
        engram_context_get_memory_stats(ctx_, &st);
        return st.peak_bytes;
    }

    double skipped_fraction() const {
        engram_op_stats st;
        engram_op_stats_init(&st);
        engram_context_get_op_stats(ctx_, &st);
        return filter_skipped_fraction(st);
    }

    Case engram_case(const char* op, const std::string& variant, float eps) override {
        Case c = base(op, "engram", variant.c_str());
        c.filter_eps = eps;
        const bool fwd_only = std::string(op) == "cce_forward";
        const bool fused = variant.rfind("fused", 0) == 0;
        engram_cce_options o;
        engram_cce_options_init(&o);
        o.filter_eps = eps;
        o.scratch_bytes = scratch_bytes_;
        auto call = [&](bool verify) {
            o.reduction = verify ? ENGRAM_REDUCTION_NONE : ENGRAM_REDUCTION_MEAN;
            float* loss = loss_.data();
            if (fwd_only) {
                check(engram_cce_forward(ctx_, &in_, &o, loss, lse_.data()), "forward");
            } else if (fused) {
                check(engram_cce_forward_backward(ctx_, &in_, &o, nullptr, loss, lse_.data(), &grads_),
                      "forward_backward");
            } else {
                check(engram_cce_forward(ctx_, &in_, &o, loss, lse_.data()), "forward");
                check(engram_cce_backward(ctx_, &in_, &o, lse_.data(), nullptr, &grads_), "backward");
            }
        };
        measure(c, [&] { call(false); }, [&] { return engram_peak(); });
        if (!fwd_only) c.blocks_skipped_frac = skipped_fraction();
        call(true);
        c.max_abs_err = max_error(ref_, p_, loss_.data(), lse_.data(), fwd_only ? nullptr : ge_.data());
        // Executed products: logits once per logit pass, dE and dC where kept.
        const double kept = c.blocks_skipped_frac >= 0 ? 1.0 - c.blocks_skipped_frac : 1.0;
        c.flops = gemm_flops() * (fwd_only ? 1.0 : (fused ? 1.0 : 2.0) + 2.0 * kept);
        c.bytes_moved = io_bytes(!fwd_only);
        return c;
    }

    Case naive_forward() {
        Case c = base("cce_forward", "naive", "materialized");
        NaiveCpu naive(p_);
        measure(c, [&] {
            naive.forward(nullptr, nullptr);
            naive.release();
        }, [&] { return naive.peak_bytes(); });
        naive.forward(loss_.data(), lse_.data());
        naive.release();
        c.max_abs_err = max_error(ref_, p_, loss_.data(), lse_.data(), nullptr);
        c.flops = gemm_flops();
        c.bytes_moved = io_bytes(false) + 2.0 * 4.0 * double(p_.n) * double(p_.v);
        c.notes = std::string("logits by ") + NaiveCpu::blas() + " sgemm";
        return c;
    }

    Case naive_forward_backward() {
        Case c = base("cce_forward_backward", "naive", "materialized");
        NaiveCpu naive(p_);
        measure(c, [&] {
            naive.forward(nullptr, nullptr);
            naive.backward(1.0f / float(p_.n), ge_.data(), gc_.data());
        }, [&] { return naive.peak_bytes(); });
        naive.forward(loss_.data(), lse_.data());
        naive.backward(1.0f, ge_.data(), gc_.data());
        c.max_abs_err = max_error(ref_, p_, loss_.data(), lse_.data(), ge_.data());
        c.flops = 3.0 * gemm_flops();
        c.bytes_moved = io_bytes(true) + 6.0 * 4.0 * double(p_.n) * double(p_.v);
        c.notes = std::string("logits and gradient products by ") + NaiveCpu::blas() + " sgemm";
        return c;
    }

    const SampledReference& ref_;
    engram_context* ctx_ = nullptr;
    engram_cce_inputs in_{};
    engram_cce_grads grads_{};
    std::vector<float> loss_, lse_, ge_, gc_;
};

}  // namespace

void run_cpu_cases(const Settings& s, const Problem& p, const SampledReference& ref,
                   std::vector<Case>& out) {
    CpuCases(s, p, ref).run(out);
}

}  // namespace engram_bench
