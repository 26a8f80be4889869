// attention_cases.cpp — `engram-bench bench attention`: decode over a KV
// cache of S tokens (H_q query heads, H_kv KV heads, head dim D) in each
// storage dtype asked for: all heads dense (retrieval), all heads streaming
// (S_sink + W) at a short and a long S, the DuoAttention mix (the first half
// of the KV heads streaming), and chunked prefill of an n-token chunk (dense
// onto a short cache, streaming onto the long one); baselines in the same
// run: engram's dense decode, an in-process matmul-softmax-matmul through the
// BLAS (f32 storage), and the PyTorch CPU peer (perf/peers/
// torch_attention_cpu.py) when python3 can import torch. Every engram op is
// first checked against the float64 reference on the suite's reduced shape;
// a wrong result stops the run with no timings (fail closed).
//
// Counted: decode FLOPs 4 H_q kept D (scores and the weighted sum); bytes the
// key and value bytes the op read (its "kv_bytes_read" counter), against the
// measured stream bandwidth. Prefill FLOPs 4 D H_q x (tokens each query
// attends to), summed over the chunk.
#include "attention_cases.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "attention_baselines.hpp"
#include "attention_suite.hpp"
#include "engram.h"
#include "family_bench.hpp"
#include "registry.hpp"
#include "runtime_blas.hpp"

namespace engram_bench {

namespace {

const char kAttentionHelp[] =
    "usage: engram-bench bench attention [--s 131072] [--short-s 8192] [--hq 32] [--hkv 8] [--d 128]\n"
    "                                    [--sink 64] [--w 1024] [--dtypes bf16,f32] [--n 4096]\n"
    "                                    [--prefill-s 4096] [--prefill-reps R] [--prefill-warmup W]\n"
    "                                    [--no-prefill 1] [--naive-max-s 131072]\n"
    "                                    [--reps R] [--warmup W] [--threads T] [--peer-threads T] [--seed S]\n"
    "                                    [--no-probes] [--no-peer] [--quick] [--note TEXT] [--json FILE]\n"
    "Decode over a KV cache of S tokens: dense, streaming (sink + window) at --short-s and --s,\n"
    "the DuoAttention mix (half the KV heads streaming); chunked prefill of --n tokens (dense\n"
    "onto a --prefill-s cache, streaming onto the S cache); an in-process BLAS\n"
    "matmul-softmax-matmul (f32) and the PyTorch CPU peer when python3 can import torch.\n"
    "Each engram op is validated against the float64 reference on the suite's reduced shape first.\n";

void check(engram_status st, const char* what) {
    if (st != ENGRAM_OK) throw std::runtime_error(std::string(what) + ": " + engram_last_error());
}

struct CacheDeleter {
    void operator()(engram_attention_cache* c) const { engram_attention_cache_destroy(c); }
};
using CachePtr = std::unique_ptr<engram_attention_cache, CacheDeleter>;

const char* policy_name(int policy) {
    return policy == 1 ? "dense" : policy == 2 ? "streaming" : policy == 3 ? "duo-half-streaming" : "alternate";
}

engram_dtype dtype_of(const std::string& s) {
    if (s == "bf16") return ENGRAM_DTYPE_BF16;
    if (s == "f16") return ENGRAM_DTYPE_F16;
    if (s == "f32") return ENGRAM_DTYPE_F32;
    throw std::runtime_error("unknown dtype " + s + " (f32, f16, bf16)");
}

uint64_t counter(engram_context* ctx, const char* name) {
    engram_op_stats st;
    engram_op_stats_init(&st);
    uint64_t v = 0;
    if (engram_context_get_op_stats(ctx, &st) == ENGRAM_OK) engram_op_stats_counter(&st, name, &v);
    return v;
}

class AttentionBench {
public:
    explicit AttentionBench(FamilyRun& run) : run_(run), s_(run.settings()) {
        hq_ = s_.integer("hq", 32);
        hkv_ = s_.integer("hkv", 8);
        d_ = s_.integer("d", 128);
        sink_ = s_.integer("sink", 64);
        w_ = s_.integer("w", 1024);
        check(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx_), "context");
        check(engram_context_set_threads(ctx_, s_.threads), "threads");
        q_.resize(size_t(hq_ * d_));
        fill_uniform(q_, s_.seed + 101);
        out_.resize(q_.size());
    }
    ~AttentionBench() { engram_context_destroy(ctx_); }

    // Every (op, policy) timed, on the suite's reduced shape, for a dtype.
    bool validate(const std::string& dtype, int64_t s, int64_t n) {
        const engram_suite::Suite* suite = engram_suite::find_suite("attention");
        const engram_suite::Dims reduced = suite->reduced(
            {{"hq", hq_}, {"hkv", hkv_}, {"d", d_}, {"s", s}, {"n", n}, {"sink", sink_}, {"w", w_}});
        struct Plan {
            const char* op;
            int policy;
        };
        const Plan plan[] = {{"attention_decode", 1}, {"attention_decode", 2}, {"attention_decode", 3},
                             {"attention_prefill", 1}, {"attention_prefill", 2}};
        for (const Plan& p : plan) {
            engram_suite::Case c;
            c.op = p.op;
            c.dims = reduced;
            if (c.op == "attention_decode") c.dims.erase("n");
            c.dtype = dtype_of(dtype);
            c.seed = s_.seed;
            c.options = {{"policy", double(p.policy)}, {"chunk", 512}, {"append_f32", 1}, {"io", 0}};
            double ratio = -1;
            if (!run_.validate(c, &ratio)) return false;
            validations_[dtype + "/" + p.op + "/" + std::to_string(p.policy)] = {c.dims, ratio};
        }
        return true;
    }

    // A cache of `tokens` tokens in `dtype` with every KV head of `policy`.
    CachePtr make_cache(const std::string& dtype, int policy, int64_t tokens, int64_t capacity,
                        double* append_ms = nullptr) {
        engram_attention_cache_config cfg;
        engram_attention_cache_config_init(&cfg);
        cfg.dtype = dtype_of(dtype);
        cfg.layers = 1;
        cfg.kv_heads = int32_t(hkv_);
        cfg.head_dim = int32_t(d_);
        cfg.sink_tokens = int32_t(sink_);
        cfg.window = int32_t(w_);
        cfg.capacity = capacity;
        const std::vector<int32_t> pol = engram_suite::attention_policy(policy, hkv_);
        cfg.policy = pol.data();
        engram_attention_cache* raw = nullptr;
        check(engram_attention_cache_create(ctx_, &cfg, &raw), "cache create");
        CachePtr cache(raw);
        fill(cache.get(), tokens, append_ms);
        return cache;
    }

    // Appends `tokens` tokens of f32 values (rounded to storage by the library).
    void fill(engram_attention_cache* cache, int64_t tokens, double* append_ms) {
        const int64_t chunk = 4096;
        std::vector<float> k(size_t(hkv_ * chunk * d_)), v(k.size());
        double ms = 0.0;
        for (int64_t t0 = 0, i = 0; t0 < tokens; t0 += chunk, ++i) {
            const int64_t n = std::min(chunk, tokens - t0);
            fill_uniform(k, s_.seed * 1000 + 2 * uint64_t(i));
            fill_uniform(v, s_.seed * 1000 + 2 * uint64_t(i) + 1);
            // [H_kv, n, D]: the first n tokens of each head's chunk rows.
            if (n < chunk)
                for (int64_t h = 1; h < hkv_; ++h) {
                    std::copy_n(k.begin() + h * chunk * d_, n * d_, k.begin() + h * n * d_);
                    std::copy_n(v.begin() + h * chunk * d_, n * d_, v.begin() + h * n * d_);
                }
            const double t = now_ms();
            check(engram_attention_cache_append(ctx_, cache, 0, n, ENGRAM_DTYPE_F32, k.data(), v.data()),
                  "cache append");
            ms += now_ms() - t;
        }
        if (append_ms) *append_ms = ms;
    }

    engram_attention_cache_info info(engram_attention_cache* cache) {
        engram_attention_cache_info i;
        engram_attention_cache_info_init(&i);
        check(engram_attention_cache_get_info(ctx_, cache, 0, &i), "cache info");
        return i;
    }

    FamilyCase decode_case(const std::string& dtype, int policy, int64_t s, engram_attention_cache* cache) {
        FamilyCase c;
        c.op = "attention_decode";
        c.impl = "engram";
        c.variant = policy_name(policy);
        c.dtype = dtype;
        c.shape = {{"hq", hq_}, {"hkv", hkv_}, {"d", d_}, {"s", s}, {"sink", sink_}, {"w", w_}};
        c.timing = time_family(s_, [&] {
            check(engram_attention_decode(ctx_, cache, 0, hq_, ENGRAM_DTYPE_F32, q_.data(), out_.data(), nullptr),
                  "decode");
        });
        const double attended = double(counter(ctx_, "tokens_attended"));
        c.bytes = double(counter(ctx_, "kv_bytes_read"));
        c.flops = 4.0 * double(hq_ / hkv_) * attended * double(d_);
        const engram_attention_cache_info i = info(cache);
        c.metrics["cache_bytes"] = double(i.total_bytes);
        c.metrics["tokens_attended"] = attended;
        c.metrics["streaming_heads"] = double(i.streaming_heads);
        c.notes = "q and out f32, one query per head; bytes = kv_bytes_read counter";
        const auto& v = validations_.at(dtype + "/attention_decode/" + std::to_string(policy));
        c.validation_shape = v.first;
        c.validation_worst_ratio = v.second;
        if (const FamilyCase* dense = run_.find("attention_decode", "engram", "dense", c.shape, dtype)) {
            c.metrics["time_vs_dense"] = c.timing.median() / dense->timing.median();
            c.metrics["cache_bytes_vs_dense"] = c.metrics["cache_bytes"] / dense->metrics.at("cache_bytes");
            c.metrics["dense_speedup"] = dense->timing.median() / c.timing.median();
        }
        return c;
    }

    void decode_cases(const std::string& dtype, int64_t s, int64_t short_s) {
        double append_ms = 0;
        {
            CachePtr dense = make_cache(dtype, 1, s, s, &append_ms);
            FamilyCase c = decode_case(dtype, 1, s, dense.get());
            c.metrics["append_ms_per_1k_tokens"] = append_ms / (double(s) / 1024.0);
            const std::vector<float> engram_out = out_;
            run_.add(c);
            if (dtype == "f32" && s <= s_.integer("naive-max-s", 131072)) naive_case(s, engram_out, c);
        }
        {
            CachePtr duo = make_cache(dtype, 3, s, s);
            run_.add(decode_case(dtype, 3, s, duo.get()));
        }
        for (int64_t len : {short_s, s}) {
            CachePtr stream = make_cache(dtype, 2, len, len);
            FamilyCase c = decode_case(dtype, 2, len, stream.get());
            engram_suite::Dims other = c.shape;
            other["s"] = short_s;
            if (len != short_s)
                if (const FamilyCase* x = run_.find("attention_decode", "engram", "streaming", other, dtype))
                    c.metrics["time_vs_s" + std::to_string(short_s)] = c.timing.median() / x->timing.median();
            run_.add(c);
        }
    }

    // The same decode by matmul-softmax-matmul through the BLAS on the same
    // keys and values (f32), checked against engram's output.
    void naive_case(int64_t s, const std::vector<float>& engram_out, const FamilyCase& dense) {
        DenseKv kv;
        kv.hq = hq_;
        kv.hkv = hkv_;
        kv.d = d_;
        kv.s = s;
        kv.k.resize(size_t(hkv_ * s * d_));
        kv.v.resize(kv.k.size());
        const int64_t chunk = 4096;
        std::vector<float> k(size_t(hkv_ * chunk * d_)), v(k.size());
        for (int64_t t0 = 0, i = 0; t0 < s; t0 += chunk, ++i) {
            const int64_t n = std::min(chunk, s - t0);
            fill_uniform(k, s_.seed * 1000 + 2 * uint64_t(i));
            fill_uniform(v, s_.seed * 1000 + 2 * uint64_t(i) + 1);
            // Token t0 + i of head h is row i of head h's rows in the chunk
            // buffer (fill() only moves a short chunk's rows together).
            for (int64_t h = 0; h < hkv_; ++h) {
                std::copy_n(k.begin() + h * chunk * d_, n * d_, kv.k.begin() + (h * s + t0) * d_);
                std::copy_n(v.begin() + h * chunk * d_, n * d_, kv.v.begin() + (h * s + t0) * d_);
            }
        }
        std::vector<float> scores, out;
        FamilyCase c;
        c.op = "attention_decode";
        c.impl = "naive";
        c.variant = "matmul-softmax-matmul";
        c.dtype = "f32";
        c.shape = dense.shape;
        bool ok = true;
        const float scale = float(1.0 / std::sqrt(double(d_)));
        c.timing = time_family(s_, [&] { ok = attention_decode_blas(kv, q_, scale, scores, out); });
        if (!ok) {
            std::printf("BLAS baseline skipped: %s\n", runtime_blas().name.c_str());
            return;
        }
        double diff = 0, mag = 0;
        for (size_t i = 0; i < out.size(); ++i) {
            diff = std::max(diff, double(std::fabs(out[i] - engram_out[i])));
            mag = std::max(mag, double(std::fabs(engram_out[i])));
        }
        c.bytes = 2.0 * 4.0 * double(hkv_ * s * d_);
        c.flops = 4.0 * double(hq_) * double(s) * double(d_);
        c.metrics["max_rel_diff_vs_engram"] = mag > 0 ? diff / mag : diff;
        c.metrics["engram_speedup"] = c.timing.median() / dense.timing.median();
        c.notes = std::string("per KV head: scores [G, S] by ") + runtime_blas().name +
                  " sgemm, softmax, sgemm with V; keys and values as an f32 copy";
        if (!(c.metrics["max_rel_diff_vs_engram"] <= 1e-3))
            run_.fail("the BLAS decode baseline differs from engram's output by " +
                      std::to_string(c.metrics["max_rel_diff_vs_engram"]));
        run_.add(c);
    }

    // Prefill of an n-token chunk onto a cache of `s` tokens of `policy`
    // (refilled before every call, untimed, since the chunk is appended).
    void prefill_case(const std::string& dtype, int policy, int64_t s, int64_t n) {
        std::vector<float> q(size_t(hq_ * n * d_)), k(size_t(hkv_ * n * d_)), v(k.size()), out(q.size());
        fill_uniform(q, s_.seed + 201);
        fill_uniform(k, s_.seed + 202);
        fill_uniform(v, s_.seed + 203);
        CachePtr cache = make_cache(dtype, policy, 0, s + n);
        FamilyCase c;
        c.op = "attention_prefill";
        c.impl = "engram";
        c.variant = policy_name(policy);
        c.dtype = dtype;
        c.shape = {{"hq", hq_}, {"hkv", hkv_}, {"d", d_}, {"s", s}, {"n", n}, {"sink", sink_}, {"w", w_}};
        const int warmup = int(s_.integer("prefill-warmup", s_.warmup)), reps = int(s_.integer("prefill-reps", s_.reps));
        for (int i = 0; i < warmup + reps; ++i) {
            check(engram_attention_cache_reset(ctx_, cache.get()), "cache reset");
            fill(cache.get(), s, nullptr);
            const double t0 = now_ms();
            check(engram_attention_prefill(ctx_, cache.get(), 0, hq_, n, ENGRAM_DTYPE_F32, q.data(), k.data(),
                                           v.data(), out.data(), nullptr),
                  "prefill");
            if (i >= warmup) c.timing.ms.push_back(now_ms() - t0);
        }
        const double attended = double(counter(ctx_, "tokens_attended"));
        c.flops = 4.0 * double(hq_ / hkv_) * attended * double(d_);
        c.bytes = double(counter(ctx_, "kv_bytes_read"));
        c.metrics["tokens_attended"] = attended;
        c.metrics["ms_per_query_token"] = c.timing.median() / double(n);
        c.notes = "q, k, v, out f32; the cache refilled (untimed) before each call";
        const auto& val = validations_.at(dtype + "/attention_prefill/" + std::to_string(policy));
        c.validation_shape = val.first;
        c.validation_worst_ratio = val.second;
        run_.add(c);
    }

    void peer(const std::vector<std::string>& dtypes, int64_t s, int64_t short_s) {
        std::string list;
        for (const std::string& d : dtypes) list += (list.empty() ? "" : ",") + d;
        run_.run_peer("torch_attention_cpu.py",
                      "--s " + std::to_string(short_s) + "," + std::to_string(s) + " --hq " + std::to_string(hq_) +
                          " --hkv " + std::to_string(hkv_) + " --d " + std::to_string(d_) + " --sink " +
                          std::to_string(sink_) + " --w " + std::to_string(w_) + " --dtypes " + list);
    }

private:
    FamilyRun& run_;
    const FamilySettings& s_;
    int64_t hq_, hkv_, d_, sink_, w_;
    engram_context* ctx_ = nullptr;
    std::vector<float> q_, out_;
    std::map<std::string, std::pair<engram_suite::Dims, double>> validations_;
};

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = text.find(',', start);
        const std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!item.empty()) out.push_back(item);
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return out;
}

}  // namespace

int run_attention_bench(int argc, char** argv, int first) {
    const FamilySettings s = parse_family_settings(
        argc, argv, first, "attention",
        {"s", "short-s", "hq", "hkv", "d", "sink", "w", "dtypes", "n", "prefill-s", "no-prefill", "naive-max-s",
         "prefill-reps", "prefill-warmup"},
        kAttentionHelp);
    FamilyRun run(s);
    const std::vector<std::string> dtypes = split_list(s.text("dtypes", s.text("dtype", "bf16,f32")));
    const int64_t S = s.integer("s", 131072), short_s = s.integer("short-s", 8192), n = s.integer("n", 4096);
    const bool prefill = s.integer("no-prefill", 0) == 0;
    try {
        AttentionBench bench(run);
        std::printf("validating the engram ops against the float64 reference before timing ...\n");
        bool ok = true;
        for (const std::string& dt : dtypes) ok = ok && bench.validate(dt, S, n);
        if (ok) {
            run.probe(0, 0, 0);
            for (const std::string& dt : dtypes) bench.decode_cases(dt, S, short_s);
            if (prefill)
                for (const std::string& dt : dtypes) {
                    bench.prefill_case(dt, 1, s.integer("prefill-s", 4096), n);
                    bench.prefill_case(dt, 2, S, n);
                }
            bench.peer(dtypes, S, short_s);
        }
    } catch (const std::exception& e) {
        run.fail(e.what());
    }
    return run.finish();
}

}  // namespace engram_bench
