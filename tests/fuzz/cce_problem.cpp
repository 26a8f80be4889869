// cce_problem.cpp — from fuzz bytes to a valid CCE call: the input picks the
// shapes, dtypes, options and optional tensors directly (so mutations move
// between them) and a seed for the values (so a small input still fills a
// 64 x 64 problem). Every buffer is its own exact-size malloc.
#include <cinttypes>
#include <cmath>
#include <limits>

#include "cce_fuzz.hpp"
#include "shared/half.h"

namespace fuzz {

const char* op_name(CceOp op) {
    switch (op) {
        case FORWARD: return "engram_cce_forward";
        case BACKWARD: return "engram_cce_backward";
        case FORWARD_BACKWARD: return "engram_cce_forward_backward";
        case SHARD_FORWARD: return "engram_cce_shard_forward";
        case SHARD_COMBINE: return "engram_cce_shard_combine";
        default: return "?";
    }
}

namespace {

template <class T>
T pick(FuzzedDataProvider& in, std::initializer_list<T> values) {
    return *(values.begin() + in.ConsumeIntegralInRange<size_t>(0, values.size() - 1));
}

// Stores x as element i of a float dtype array; returns the value stored.
double put_float(int32_t dt, std::vector<uint8_t>& raw, size_t i, float x) {
    if (dt == ENGRAM_DTYPE_F32) {
        std::memcpy(&raw[4 * i], &x, 4);
        return x;
    }
    const uint16_t h = dt == ENGRAM_DTYPE_F16 ? engram::f32_to_f16(x) : engram::f32_to_bf16(x);
    std::memcpy(&raw[2 * i], &h, 2);
    return dt == ENGRAM_DTYPE_F16 ? engram::f16_to_f32(h) : engram::bf16_to_f32(h);
}

void put_target(int32_t dt, std::vector<uint8_t>& raw, size_t i, int64_t t) {
    if (dt == ENGRAM_DTYPE_I64) {
        std::memcpy(&raw[8 * i], &t, 8);
    } else {
        const int32_t t32 = int32_t(t);
        std::memcpy(&raw[4 * i], &t32, 4);
    }
}

}  // namespace

std::string Problem::describe() const {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s n=%" PRId64 " d=%" PRId64 " v=%" PRId64 " vocab=[%" PRId64 ",+%" PRId64
                  ") of %" PRId64 " shards=%" PRId64 " dtype=%d targets=%d bias=%d c_is_e=%d "
                  "specials=%d opts%s{red=%d ignore=%" PRId64 " cap=%g ls=%g zl=%g eps=%g check=%d scratch=%" PRIu64 "} "
                  "lse=%d lse_in=%d logit_sum=%d grad_loss=%d grads{dtype=%d e=%d c=%d b=%d}",
                  op_name(op), n, d, v, start, v, vt, shards, dtype, tdtype, bias, c_is_e, specials,
                  opts_null ? "=NULL" : "", opts.reduction, opts.ignore_index, double(opts.softcap),
                  double(opts.label_smoothing), double(opts.z_loss), double(opts.filter_eps),
                  opts.check_targets, uint64_t(opts.scratch_bytes), want_lse, lse_in, want_logit_sum, !grad_loss_null, grad_dtype,
                  ge, gc, gb);
    return buf;
}

Problem make_problem(FuzzedDataProvider& in, CceOp op) {
    Problem p;
    p.op = op;
    p.dtype = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    p.tdtype = in.ConsumeBool() ? ENGRAM_DTYPE_I64 : ENGRAM_DTYPE_I32;
    p.n = in.ConsumeIntegralInRange<int64_t>(1, kMaxDim);
    p.d = in.ConsumeIntegralInRange<int64_t>(1, kMaxDim);
    p.v = p.vt = in.ConsumeIntegralInRange<int64_t>(1, kMaxDim);
    if ((op == SHARD_FORWARD || op == BACKWARD) && in.ConsumeBool()) {
        const int64_t extra = in.ConsumeIntegralInRange<int64_t>(1, kMaxDim);
        p.vt = p.v + extra;
        p.start = in.ConsumeIntegralInRange<int64_t>(0, extra);
    } else {
        p.explicit_vt = in.ConsumeBool();
    }
    if (op == SHARD_COMBINE) p.shards = in.ConsumeIntegralInRange<int64_t>(1, std::min<int64_t>(p.vt, 8));
    p.bias = in.ConsumeBool();
    p.c_is_e = op != SHARD_COMBINE && !p.sharded() && p.v <= p.n && in.ConsumeIntegralInRange(0, 7) == 0;

    engram_cce_options& o = p.opts;
    engram_cce_options_init(&o);
    p.opts_null = in.ConsumeIntegralInRange(0, 7) == 0;
    if (!p.opts_null) {
        o.reduction = in.ConsumeIntegralInRange(0, 2);
        o.ignore_index = pick<int64_t>(in, {-100, -100, -1, 0, p.vt - 1, INT64_MIN, int64_t(1) << 40});
        o.softcap = pick(in, {0.0f, 0.0f, -0.0f, 0.5f, 5.0f, 30.0f});
        o.label_smoothing = pick(in, {0.0f, 0.0f, 0.1f, 0.5f, 0.99f});
        o.z_loss = pick(in, {0.0f, 0.0f, 1e-4f, 0.1f});
        o.filter_eps = pick(in, {0.0f, ENGRAM_FILTER_EPS_AUTO, ENGRAM_FILTER_EPS_AUTO, 0x1p-12f, 1e-2f, -1000.0f});
        o.check_targets = pick(in, {1, 1, 0});
        o.scratch_bytes = pick<uint64_t>(in, {0, 0, 1, 4096, uint64_t(1) << 20, uint64_t(1) << 40, UINT64_MAX});
    }
    p.filter_eps = o.filter_eps >= 0.0f ? o.filter_eps
                   : p.dtype == ENGRAM_DTYPE_F32 ? 0.0f
                   : p.dtype == ENGRAM_DTYPE_BF16 ? 0x1p-12f : 0x1p-11f;

    p.want_lse = in.ConsumeBool();
    p.lse_in = in.ConsumeBool() || p.sharded();  // a shard's backward needs the global lse
    p.want_logit_sum = in.ConsumeBool() || o.label_smoothing > 0.0f;
    p.grad_loss_null = in.ConsumeBool();
    p.grad_dtype = in.ConsumeBool() ? ENGRAM_DTYPE_F32 : p.dtype;
    const int which = in.ConsumeIntegralInRange(1, 7);  // at least one gradient
    p.ge = which & 1;
    p.gc = which & 2;
    p.gb = (which & 4) && p.bias;
    if (!p.ge && !p.gc && !p.gb) p.ge = true;

    // Values: e . c has standard deviation ~ e_scale sqrt(d / 9).
    const double e_scale = pick(in, {0.1, 1.0, 3.0, 10.0});
    const double b_scale = pick(in, {0.5, 1.0, 5.0});
    const double ignore_frac = pick(in, {0.0, 0.0, 0.25, 0.9, 1.0});
    const int specials = in.ConsumeIntegralInRange(0, 7) == 0 ? in.ConsumeIntegralInRange(1, 4) : 0;
    Rng rng(in.ConsumeIntegral<uint64_t>());

    engram_test::RefProblem& r = p.ref;
    r.n = p.n;
    r.d = p.d;
    r.v = p.vt;
    r.opts = {o.reduction, o.ignore_index, o.softcap, o.label_smoothing, o.z_loss};
    r.e.resize(size_t(p.n * p.d));
    r.c.resize(size_t(p.vt * p.d));
    p.e_raw.resize(r.e.size() * p.es());
    p.c_raw.resize(r.c.size() * p.es());
    for (size_t i = 0; i < r.e.size(); ++i) r.e[i] = put_float(p.dtype, p.e_raw, i, float(rng.sym(e_scale)));
    for (size_t i = 0; i < r.c.size(); ++i) r.c[i] = put_float(p.dtype, p.c_raw, i, float(rng.sym(1.0)));
    if (p.bias) {
        r.bias.resize(size_t(p.vt));
        p.bias_raw.resize(r.bias.size() * p.es());
        for (size_t i = 0; i < r.bias.size(); ++i)
            r.bias[i] = put_float(p.dtype, p.bias_raw, i, float(rng.sym(b_scale)));
    }
    // Special values (not for combine, whose inputs come from the reference):
    // NaN and infinities test the contract; +-1e4 and 0 the kernels' range.
    if (op != SHARD_COMBINE) {
        const float kSpecial[] = {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY,
                                  1e4f, -1e4f, 0.0f, -0.0f};
        for (int s = 0; s < specials; ++s) {
            const int which_tensor = int(rng.below(p.bias ? 3 : 2));
            const float x = kSpecial[rng.below(7)];
            auto& vals = which_tensor == 0 ? r.e : which_tensor == 1 ? r.c : r.bias;
            auto& raw = which_tensor == 0 ? p.e_raw : which_tensor == 1 ? p.c_raw : p.bias_raw;
            const size_t at = size_t(rng.below(int64_t(vals.size())));
            vals[at] = put_float(p.dtype, raw, at, x);
            p.specials = true;
        }
    }
    if (p.c_is_e) {  // c is the first v rows of e: inputs may alias inputs
        std::copy(r.e.begin(), r.e.begin() + p.v * p.d, r.c.begin());
        std::copy(p.e_raw.begin(), p.e_raw.begin() + p.v * p.d * int64_t(p.es()), p.c_raw.begin());
    }
    // Targets: global ids, some set to ignore_index (when the dtype holds it).
    const bool can_ignore = p.tdtype == ENGRAM_DTYPE_I64 ||
                            (o.ignore_index >= INT32_MIN && o.ignore_index <= INT32_MAX);
    r.targets.resize(size_t(p.n));
    p.t_raw.resize(size_t(p.n) * p.ts());
    for (int64_t i = 0; i < p.n; ++i) {
        const int64_t t = can_ignore && rng.chance(ignore_frac) ? o.ignore_index : rng.below(p.vt);
        r.targets[size_t(i)] = t;
        put_target(p.tdtype, p.t_raw, size_t(i), t);
    }
    p.grad_loss.resize(p.loss_count());
    for (float& g : p.grad_loss) g = float(rng.sym(2.0));
    return p;
}

engram_status invoke(const Call& k) {
    const engram_cce_inputs* in = k.in_null ? nullptr : &k.in;
    const engram_cce_options* opts = k.opts_null ? nullptr : &k.opts;
    const engram_cce_grads* grads = k.grads_null ? nullptr : &k.grads;
    switch (k.op) {
        case FORWARD: return engram_cce_forward(k.ctx, in, opts, k.loss, k.lse);
        case BACKWARD: return engram_cce_backward(k.ctx, in, opts, k.lse_in, k.grad_loss, grads);
        case FORWARD_BACKWARD:
            return engram_cce_forward_backward(k.ctx, in, opts, k.grad_loss, k.loss, k.lse, grads);
        case SHARD_FORWARD:
            return engram_cce_shard_forward(k.ctx, in, opts, k.shard_lse, k.target_logit, k.logit_sum);
        case SHARD_COMBINE:
            return engram_cce_shard_combine(k.ctx, k.cn, k.cshards, k.cvocab, k.cs_lse, k.cs_tl,
                                            k.cs_ls, k.ctargets, engram_dtype(k.ctdtype), opts,
                                            k.loss, k.lse);
        default: break;
    }
    FUZZ_CHECK(false, "bad op %d", int(k.op));
}

CombineInputs combine_inputs(const Problem& p) {
    CombineInputs ci;
    const size_t n = size_t(p.n);
    ci.shard_lse.assign(size_t(p.shards) * n, 0.0f);
    std::vector<double> tl(n, 0.0), ls(n, 0.0);
    for (int64_t s = 0; s < p.shards; ++s) {
        const int64_t lo = p.vt * s / p.shards, hi = p.vt * (s + 1) / p.shards;
        const engram_test::RefShard sh = engram_test::ref_cce_shard_forward(p.ref, lo, hi);
        for (size_t i = 0; i < n; ++i) {
            ci.shard_lse[size_t(s) * n + i] = float(sh.shard_lse[i]);
            tl[i] += sh.target_logit[i];
            ls[i] += sh.logit_sum[i];
        }
    }
    ci.target_logit.assign(tl.begin(), tl.end());
    ci.logit_sum.assign(ls.begin(), ls.end());
    return ci;
}

Call build_call(const Problem& p, Arena& a, engram_context* ctx, const std::vector<float>& lse_values,
                const CombineInputs& ci) {
    Call k;
    k.op = p.op;
    k.ctx = ctx;
    k.opts = p.opts;
    k.opts_null = p.opts_null;
    const size_t n = size_t(p.n), d = size_t(p.d), v = size_t(p.v), es = p.es();
    auto* targets = a.input(p.t_raw.data(), p.t_raw.size(), "targets");
    if (p.op == SHARD_COMBINE) {
        k.cn = p.n;
        k.cshards = p.shards;
        k.cvocab = p.vt;
        k.cs_lse = reinterpret_cast<const float*>(a.input(ci.shard_lse.data(), 4 * ci.shard_lse.size(), "shard_lse"));
        k.cs_tl = reinterpret_cast<const float*>(a.input(ci.target_logit.data(), 4 * n, "target_logit"));
        if (p.want_logit_sum)
            k.cs_ls = reinterpret_cast<const float*>(a.input(ci.logit_sum.data(), 4 * n, "logit_sum"));
        k.ctargets = targets;
        k.ctdtype = p.tdtype;
        k.loss = reinterpret_cast<float*>(a.output(4 * p.loss_count(), "loss"));
        if (p.want_lse) k.lse = reinterpret_cast<float*>(a.output(4 * n, "lse"));
        return k;
    }
    engram_cce_inputs_init(&k.in);
    k.in.dtype = p.dtype;
    k.in.target_dtype = p.tdtype;
    k.in.n = p.n;
    k.in.d = p.d;
    k.in.v = p.v;
    k.in.vocab_start = p.start;
    k.in.vocab_total = p.sharded() || p.explicit_vt ? p.vt : 0;
    k.in.e = a.input(p.e_raw.data(), n * d * es, "e");
    k.in.c = p.c_is_e ? k.in.e : a.input(&p.c_raw[size_t(p.start) * d * es], v * d * es, "c");
    if (p.bias) k.in.bias = a.input(&p.bias_raw[size_t(p.start) * es], v * es, "bias");
    k.in.targets = targets;
    auto out = [&](size_t bytes, const char* name) { return reinterpret_cast<float*>(a.output(bytes, name)); };
    if (p.op == FORWARD || p.op == FORWARD_BACKWARD) {
        k.loss = out(4 * p.loss_count(), "loss");
        if (p.want_lse) k.lse = out(4 * n, "lse");
    }
    if (p.op == BACKWARD || p.op == FORWARD_BACKWARD) {
        if (!p.grad_loss_null)
            k.grad_loss = reinterpret_cast<const float*>(a.input(p.grad_loss.data(), 4 * p.loss_count(), "grad_loss"));
        if (p.op == BACKWARD && p.lse_in)
            k.lse_in = reinterpret_cast<const float*>(a.input(lse_values.data(), 4 * n, "lse"));
        engram_cce_grads_init(&k.grads);
        k.grads.dtype = p.grad_dtype;
        const size_t gs = p.gs();
        if (p.ge) k.grads.grad_e = a.output(n * d * gs, "grad_e");
        if (p.gc) k.grads.grad_c = a.output(v * d * gs, "grad_c");
        if (p.gb) k.grads.grad_bias = a.output(v * gs, "grad_bias");
    }
    if (p.op == SHARD_FORWARD) {
        k.shard_lse = out(4 * n, "shard_lse");
        k.target_logit = out(4 * n, "target_logit");
        if (p.want_logit_sum) k.logit_sum = out(4 * n, "logit_sum");
    }
    return k;
}

std::vector<Slot> slots(const Problem& p, Call& k) {
    std::vector<Slot> s;
    // The entry point engram_cce_shard_forward calls its inputs `shard`.
    const std::string in = p.op == SHARD_FORWARD ? "shard->" : "in->";
    const size_t n = size_t(p.n), d = size_t(p.d), v = size_t(p.v), es = p.es(), gs = p.gs();
    auto add = [&](std::string name, size_t bytes, size_t align, bool output, auto& field) {
        if (!field) return;
        using Ptr = std::remove_reference_t<decltype(field)>;
        s.push_back({std::move(name), bytes, align, output, [&field] { return (const void*)field; },
                     [&field](void* q) { field = static_cast<Ptr>(q); }});
    };
    if (p.op == SHARD_COMBINE) {
        add("shard_lse", 4 * size_t(p.shards) * n, 4, false, k.cs_lse);
        add("target_logit", 4 * n, 4, false, k.cs_tl);
        add("logit_sum", 4 * n, 4, false, k.cs_ls);
        add("targets", p.ts() * n, p.ts(), false, k.ctargets);
        add("loss", 4 * p.loss_count(), 4, true, k.loss);
        add("lse", 4 * n, 4, true, k.lse);
        return s;
    }
    add(in + "e", n * d * es, es, false, k.in.e);
    add(in + "c", v * d * es, es, false, k.in.c);
    add(in + "bias", v * es, es, false, k.in.bias);
    add(in + "targets", n * p.ts(), p.ts(), false, k.in.targets);
    add("loss", 4 * p.loss_count(), 4, true, k.loss);
    add("lse", 4 * n, 4, true, k.lse);
    add("lse", 4 * n, 4, false, k.lse_in);
    add("grad_loss", 4 * p.loss_count(), 4, false, k.grad_loss);
    add("grads->grad_e", n * d * gs, gs, true, k.grads.grad_e);
    add("grads->grad_c", v * d * gs, gs, true, k.grads.grad_c);
    add("grads->grad_bias", v * gs, gs, true, k.grads.grad_bias);
    add("shard_lse", 4 * n, 4, true, k.shard_lse);
    add("target_logit", 4 * n, 4, true, k.target_logit);
    add("logit_sum", 4 * n, 4, true, k.logit_sum);
    return s;
}

}  // namespace fuzz
