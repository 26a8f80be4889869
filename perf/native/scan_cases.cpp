// scan_cases.cpp — `engram-bench bench scan`: engram's chunked linear
// attention forward (f32, one sequence, H heads, K = V, no gate) at several
// T, against the quadratic form through the same BLAS (materialised scores)
// and the plain recurrent form, timed in one process on the same inputs; the
// decode step at a near and a far position; the PyTorch CPU peer
// (perf/peers/torch_scan_cpu.py) when python3 can import torch. Every engram
// op is first checked against the float64 reference on the suite's reduced
// shape; a wrong result stops the run with no timings (fail closed).
//
// FLOPs of the chunk algorithm (chunk C, per head, a chunk of L tokens):
// Q K^T 2 L^2 K, (masked scores) V 2 L^2 V, the carried state's read-out
// Q S 2 L K V and update K^T V 2 L K V; the full L x L blocks are counted (as
// a GEMM-based implementation executes them), the mask and decay are not.
// So about 2 T (C (K + V) + 2 K V) per head. The quadratic baseline executes
// 2 T^2 (K + V) per head (full T x T products), the recurrent form 4 T K V.
#include "scan_cases.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "engram.h"
#include "family_bench.hpp"
#include "registry.hpp"
#include "runtime_blas.hpp"
#include "scan_baselines.hpp"

namespace engram_bench {

namespace {

const char kScanHelp[] =
    "usage: engram-bench bench scan [--t 1024,8192,32768] [--h 16] [--k 128] [--v 128]\n"
    "                               [--chunk 0] [--quadratic-max-t 8192] [--recurrent-max-t 32768]\n"
    "                               [--decode-far 1048576] [--decode-steps 64]\n"
    "                               [--reps R] [--warmup W] [--threads T] [--peer-threads T] [--seed S]\n"
    "                               [--no-probes] [--no-peer] [--quick] [--note TEXT] [--json FILE]\n"
    "Chunked linear-attention forward (f32, no gate) against the quadratic form through the\n"
    "BLAS and the plain recurrence; decode time per token at position 1K and --decode-far;\n"
    "the PyTorch CPU peer when python3 can import torch. Each engram op is validated\n"
    "against the float64 reference on the suite's reduced shape before anything is timed.\n";

void check(engram_status st, const char* what) {
    if (st != ENGRAM_OK) throw std::runtime_error(std::string(what) + ": " + engram_last_error());
}

double chunk_flops(int64_t T, int64_t H, int64_t K, int64_t V, int64_t C) {
    double f = 0.0;
    for (int64_t t0 = 0; t0 < T; t0 += C) {
        const double L = double(std::min(C, T - t0));
        f += 2.0 * L * L * double(K + V) + 4.0 * L * double(K) * double(V);
    }
    return f * double(H);
}

class ScanBench {
public:
    explicit ScanBench(FamilyRun& run) : run_(run), s_(run.settings()) {
        h_ = s_.integer("h", 16);
        k_ = s_.integer("k", 128);
        v_ = s_.integer("v", 128);
        chunk_ = s_.integer("chunk", 0);
        check(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx_), "context");
        check(engram_context_set_threads(ctx_, s_.threads), "threads");
    }
    ~ScanBench() { engram_context_destroy(ctx_); }

    bool validate(int64_t t_bench) {
        const engram_suite::Suite* suite = engram_suite::find_suite("scan");
        const engram_suite::Dims reduced =
            suite->reduced({{"b", 1}, {"t", t_bench}, {"h", h_}, {"hk", h_}, {"k", k_}, {"v", v_}});
        engram_suite::Case fwd;
        fwd.op = "scan_linear_forward";
        fwd.dims = reduced;
        fwd.seed = s_.seed;
        fwd.options = {{"gate", 0}, {"chunk", double(chunk_)}, {"out_f32", 1}};
        if (!run_.validate(fwd, &fwd_ratio_)) return false;
        fwd_shape_ = reduced;
        engram_suite::Case dec;
        dec.op = "scan_linear_decode";
        dec.dims = reduced;
        dec.dims["t"] = 1;
        dec.seed = s_.seed;
        dec.options = {{"gate", 0}, {"s0", 1}, {"in_place", 1}, {"out_f32", 1}};
        if (!run_.validate(dec, &dec_ratio_)) return false;
        dec_shape_ = dec.dims;
        return true;
    }

    void forward_cases(int64_t T) {
        ScanInputs in = inputs(T);
        const engram_suite::Dims shape{{"b", 1}, {"t", T}, {"h", h_}, {"k", k_}, {"v", v_}};
        std::vector<float> o(size_t(T * h_ * v_)), state(size_t(h_ * k_ * v_));
        engram_scan_inputs si = scan_inputs(in, T, nullptr);
        engram_scan_options opts = options();
        FamilyCase e;
        e.op = "scan_linear_forward";
        e.impl = "engram";
        e.variant = "chunked";
        e.shape = shape;
        e.timing = time_family(s_, [&] {
            check(engram_scan_linear_forward(ctx_, &si, &opts, o.data(), state.data()), "forward");
        });
        const int64_t C = chunk_ > 0 ? chunk_ : ENGRAM_SCAN_DEFAULT_CHUNK;
        e.flops = chunk_flops(T, h_, k_, v_, C);
        e.bytes = 4.0 * double(T * h_ * (2 * k_ + 2 * v_));
        e.metrics["chunk"] = double(C);
        e.metrics["ms_per_1k_tokens"] = e.timing.median() / (double(T) / 1024.0);
        e.notes = "f32, gate none, chunk " + std::to_string(C) +
                  "; FLOPs: full chunk blocks 2L^2(K+V) + state 4LKV per chunk and head";
        e.validation_shape = fwd_shape_;
        e.validation_worst_ratio = fwd_ratio_;
        const FamilyCase* shorter = nullptr;
        for (const FamilyCase& c : run_.cases())
            if (c.op == e.op && c.impl == "engram" && c.shape.at("t") < T) shorter = &c;
        if (shorter)
            e.metrics["time_vs_t" + std::to_string(shorter->shape.at("t"))] =
                e.timing.median() / shorter->timing.median();
        run_.add(e);

        if (T <= s_.integer("recurrent-max-t", 32768)) {
            std::vector<float> ro;
            FamilyCase r;
            r.op = "scan_linear_forward";
            r.impl = "plain";
            r.variant = "recurrent";
            r.shape = shape;
            r.timing = time_family(s_, [&] { scan_recurrent_plain(in, ro); });
            r.flops = 4.0 * double(T * h_ * k_ * v_);
            r.metrics["engram_speedup"] = r.timing.median() / e.timing.median();
            r.metrics["max_rel_diff_vs_engram"] = max_rel_diff(ro, o);
            r.notes = "token-by-token f32 state update and read-out, heads over the cores (OpenMP)";
            check_same(r, "recurrent");
            run_.add(r);
        }
        if (T <= s_.integer("quadratic-max-t", 8192)) {
            std::vector<float> scores, qo;
            FamilyCase q;
            q.op = "scan_linear_forward";
            q.impl = "naive";
            q.variant = "quadratic-blas";
            q.shape = shape;
            bool ok = true;
            q.timing = time_family(s_, [&] { ok = scan_quadratic_blas(in, scores, qo); });
            if (!ok) {
                std::printf("quadratic baseline skipped: %s\n", runtime_blas().name.c_str());
            } else {
                q.flops = 2.0 * double(T) * double(T) * double(k_ + v_) * double(h_);
                q.bytes = 4.0 * double(T) * double(T) * 3.0 * double(h_);
                q.metrics["scores_bytes"] = 4.0 * double(T) * double(T);
                q.metrics["engram_speedup"] = q.timing.median() / e.timing.median();
                q.metrics["max_rel_diff_vs_engram"] = max_rel_diff(qo, o);
                q.notes = std::string("scores [T, T] per head materialised by ") + runtime_blas().name +
                          " sgemm, causal mask, then sgemm with V (full T x T products counted)";
                check_same(q, "quadratic");
                run_.add(q);
            }
        }
    }

    // Decode step at position `near` (the state after a forward over near
    // tokens) and `far` (after far tokens). The states come from a sequence
    // whose heads all carry the same q, k, v (so one head's forward, run in
    // pieces of the longest benchmark T with the state carried, gives every
    // head's state: a 1M-token state costs one head's forward, not H).
    void decode_cases(int64_t piece_t) {
        const int64_t near = 1024, far = s_.integer("decode-far", 1048576);
        const int64_t piece = std::min(piece_t, far);
        const ScanInputs in = inputs(piece, 1);
        std::vector<float> o(size_t(piece * v_)), a(size_t(k_ * v_)), b(a.size());
        engram_scan_options opts = options();
        engram_scan_inputs si = scan_inputs(in, std::min(near, piece), nullptr);
        check(engram_scan_linear_forward(ctx_, &si, &opts, o.data(), a.data()), "forward (near state)");
        decode_case(replicate(a), std::min(near, piece), 0.0);
        const double t0 = now_ms();
        int64_t pos = 0;
        bool first = true;
        while (pos < far) {
            const int64_t n = std::min(piece, far - pos);
            si = scan_inputs(in, n, first ? nullptr : a.data());
            check(engram_scan_linear_forward(ctx_, &si, &opts, o.data(), b.data()), "forward (far state)");
            std::swap(a, b);
            pos += n;
            first = false;
        }
        decode_case(replicate(a), far, now_ms() - t0);
    }

    void peer(const std::vector<int64_t>& ts) {
        std::string list;
        for (int64_t t : ts) list += (list.empty() ? "" : ",") + std::to_string(t);
        run_.run_peer("torch_scan_cpu.py",
                      "--t " + list + " --h " + std::to_string(h_) + " --k " + std::to_string(k_) +
                          " --v " + std::to_string(v_) + " --chunk " +
                          std::to_string(chunk_ > 0 ? chunk_ : ENGRAM_SCAN_DEFAULT_CHUNK) +
                          " --recurrent-max-t " + std::to_string(s_.integer("peer-recurrent-max-t", 8192)));
    }

private:
    // One head's state [K, V] copied to every head.
    std::vector<float> replicate(const std::vector<float>& one) const {
        std::vector<float> all(size_t(h_) * one.size());
        for (int64_t h = 0; h < h_; ++h) std::copy(one.begin(), one.end(), all.begin() + h * int64_t(one.size()));
        return all;
    }

    ScanInputs inputs(int64_t T, int64_t heads = 0) const {
        ScanInputs in;
        in.t = T;
        in.h = heads > 0 ? heads : h_;
        in.k = k_;
        in.v = v_;
        in.scale = float(1.0 / std::sqrt(double(k_)));  // the library's default
        in.q.resize(size_t(T * in.h * k_));
        in.kk.resize(in.q.size());
        in.vv.resize(size_t(T * in.h * v_));
        fill_uniform(in.q, s_.seed * 3 + 1);
        fill_uniform(in.kk, s_.seed * 3 + 2);
        fill_uniform(in.vv, s_.seed * 3 + 3);
        return in;
    }

    engram_scan_inputs scan_inputs(const ScanInputs& in, int64_t T, const float* s0) const {
        engram_scan_inputs si;
        engram_scan_inputs_init(&si);
        si.dtype = ENGRAM_DTYPE_F32;
        si.gate = ENGRAM_SCAN_GATE_NONE;
        si.batch = 1;
        si.t = T;
        si.heads = in.h;
        si.k_dim = k_;
        si.v_dim = v_;
        si.q = in.q.data();
        si.k = in.kk.data();
        si.v = in.vv.data();
        si.initial_state = s0;
        return si;
    }

    engram_scan_options options() const {
        engram_scan_options o;
        engram_scan_options_init(&o);
        o.chunk_size = int32_t(chunk_);
        o.output_dtype = ENGRAM_DTYPE_F32;
        return o;
    }

    // A baseline must compute what engram computes (f32 rounding apart).
    void check_same(const FamilyCase& c, const char* what) {
        const double d = c.metrics.at("max_rel_diff_vs_engram");
        if (!(d <= 1e-3))
            run_.fail(std::string("the ") + what + " baseline differs from engram's output by " +
                      std::to_string(d) + " (relative to max |o|) at T=" + std::to_string(c.shape.at("t")));
    }

    void decode_case(const std::vector<float>& state, int64_t position, double build_ms) {
        const int64_t steps = s_.integer("decode-steps", 64);
        std::vector<float> st = state, q(size_t(h_ * k_)), k(q.size()), v(size_t(h_ * v_)), o(v.size());
        fill_uniform(q, s_.seed + 11);
        fill_uniform(k, s_.seed + 12);
        fill_uniform(v, s_.seed + 13);
        ScanInputs tok;
        tok.h = h_;
        tok.q = q;
        tok.kk = k;
        tok.vv = v;
        engram_scan_inputs si = scan_inputs(tok, 1, st.data());
        engram_scan_options opts = options();
        FamilyCase c;
        c.op = "scan_linear_decode";
        c.impl = "engram";
        c.variant = "step";
        c.shape = {{"b", 1}, {"h", h_}, {"k", k_}, {"v", v_}, {"position", position}};
        const Timing t = time_family(s_, [&] {
            for (int64_t i = 0; i < steps; ++i)
                check(engram_scan_linear_decode(ctx_, &si, &opts, o.data(), st.data()), "decode");
        });
        for (double ms : t.ms) c.timing.ms.push_back(ms / double(steps));  // per token
        const double state_bytes = 4.0 * double(h_ * k_ * v_);
        c.bytes = 2.0 * state_bytes + 4.0 * double(h_ * (2 * k_ + 2 * v_));
        c.metrics["state_bytes"] = state_bytes;
        c.metrics["us_per_token"] = c.timing.median() * 1e3;
        c.metrics["steps_per_rep"] = double(steps);
        if (build_ms > 0) {
            c.metrics["state_build_forward_1head_ms"] = build_ms;
            c.metrics["state_build_1head_ms_per_1k_tokens"] = build_ms / (double(position) / 1024.0);
        }
        c.notes = "time per token (B = 1), state updated in place; bytes = state read + write + token "
                  "q, k, v, o; the state at this position: the chunked forward over " +
                  std::to_string(position) + " tokens of a sequence whose heads all carry the same q, k, v";
        c.validation_shape = dec_shape_;
        c.validation_worst_ratio = dec_ratio_;
        for (const FamilyCase& x : run_.cases())
            if (x.op == c.op && x.impl == "engram" && x.shape.at("position") < position)
                c.metrics["time_vs_position" + std::to_string(x.shape.at("position"))] =
                    c.timing.median() / x.timing.median();
        run_.add(c);
    }

    FamilyRun& run_;
    const FamilySettings& s_;
    int64_t h_, k_, v_, chunk_;
    engram_context* ctx_ = nullptr;
    engram_suite::Dims fwd_shape_, dec_shape_;
    double fwd_ratio_ = -1, dec_ratio_ = -1;
};

}  // namespace

int run_scan_bench(int argc, char** argv, int first) {
    const FamilySettings s = parse_family_settings(
        argc, argv, first, "scan",
        {"t", "h", "k", "v", "chunk", "quadratic-max-t", "recurrent-max-t", "decode-far", "decode-steps",
         "peer-recurrent-max-t", "b", "hk"},
        kScanHelp);
    FamilyRun run(s);
    if (s.text("dtype", "f32") != "f32") {
        std::fprintf(stderr, "engram-bench: bench scan times f32 inputs only (--dtype %s)\n", s.text("dtype", "").c_str());
        return 2;
    }
    // One sequence, q/k heads = value heads (the suite's b and hk dims, as
    // --shape may give them).
    if (s.integer("b", 1) != 1 || s.integer("hk", s.integer("h", 16)) != s.integer("h", 16)) {
        std::fprintf(stderr, "engram-bench: bench scan times b=1 and hk=h only\n");
        return 2;
    }
    const std::vector<int64_t> ts = s.integers("t", {1024, 8192, 32768});
    if (ts.empty()) {
        std::fprintf(stderr, "engram-bench: --t needs at least one length\n");
        return 2;
    }
    try {
        ScanBench bench(run);
        std::printf("validating the engram ops against the float64 reference before timing ...\n");
        if (bench.validate(*std::max_element(ts.begin(), ts.end()))) {
            run.probe(4096, 4096, s.integer("k", 128));
            for (int64_t t : ts) bench.forward_cases(t);
            bench.decode_cases(*std::max_element(ts.begin(), ts.end()));
            bench.peer(ts);
        }
    } catch (const std::exception& e) {
        run.fail(e.what());
    }
    return run.finish();
}

}  // namespace engram_bench
