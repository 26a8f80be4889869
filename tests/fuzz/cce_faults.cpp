// cce_faults.cpp — one fault in an otherwise valid CCE call, and the status and
// argument name engram.h (and the validation messages) promise for it. The
// input chooses the kind of fault and its details; a kind that does not apply
// to the op leaves the call valid.
#include <cinttypes>
#include <cmath>
#include <limits>

#include "cce_fuzz.hpp"

namespace fuzz {
namespace {

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

template <class T>
T pick(FuzzedDataProvider& in, std::initializer_list<T> values) {
    return *(values.begin() + in.ConsumeIntegralInRange<size_t>(0, values.size() - 1));
}

// Sizes no dimension may have: <= 0, or above 2^31 - 1.
int64_t bad_size(FuzzedDataProvider& in) {
    return pick<int64_t>(in, {0, -1, int64_t(1) << 31, int64_t(1) << 62, kI64Min, kI64Max});
}

enum Fault {
    kNone, kNullContext, kNullStruct, kStructSize, kDtype, kSize, kNullTensor, kMisaligned,
    kOption, kTarget, kAlias, kShardMisuse, kAdjacent, kFaults
};

bool input_op(CceOp op) { return op != SHARD_COMBINE; }
bool grads_op(CceOp op) { return op == BACKWARD || op == FORWARD_BACKWARD; }

}  // namespace

std::string inject_fault(FuzzedDataProvider& in, const Problem& p, Arena& a, Call& k, Expect& x,
                         bool& unchecked) {
    const CceOp op = p.op;
    const std::string pfx = op == SHARD_FORWARD ? "shard" : "in";
    const bool smoothing = p.opts.label_smoothing > 0.0f;
    x = Expect{ENGRAM_ERR_INVALID_ARGUMENT, {}};
    auto fail = [&](std::string needle, engram_status st = ENGRAM_ERR_INVALID_ARGUMENT) {
        x.status = st;
        x.needles.push_back(std::move(needle));
        return "fault: " + x.needles[0];
    };
    switch (Fault(in.ConsumeIntegralInRange<int>(0, kFaults - 1))) {
        case kNone: break;
        case kNullContext:
            k.ctx = nullptr;
            return fail("ctx");
        case kNullStruct:
            if (grads_op(op) && in.ConsumeBool()) {
                k.grads_null = true;
                return fail("grads");
            }
            if (!input_op(op)) break;
            k.in_null = true;
            return fail(pfx);
        case kStructSize: {
            const int which = in.ConsumeIntegralInRange(0, 2);
            uint32_t* field = which == 0 && input_op(op) ? &k.in.struct_size
                              : which == 1 && grads_op(op) ? &k.grads.struct_size
                                                            : &k.opts.struct_size;
            const uint32_t good = *field;
            uint32_t bad = pick<uint32_t>(in, {0u, good - 4, good - 8, good + 8, UINT32_MAX, in.ConsumeIntegral<uint32_t>()});
            if (bad == good) bad = 0;
            *field = bad;
            k.opts_null = false;
            return fail(field == &k.in.struct_size ? pfx + "->struct_size"
                        : field == &k.grads.struct_size ? "grads->struct_size" : "opts->struct_size");
        }
        case kDtype: {
            const int which = in.ConsumeIntegralInRange(0, 2);
            if (!input_op(op)) {
                k.ctdtype = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16, 5, -1, INT32_MAX});
                return fail("target_dtype", ENGRAM_ERR_UNSUPPORTED);
            }
            if (which == 0) {
                k.in.dtype = pick<int32_t>(in, {ENGRAM_DTYPE_I32, ENGRAM_DTYPE_I64, 5, -1, 99, INT32_MIN, INT32_MAX});
                return fail(pfx + "->dtype", ENGRAM_ERR_UNSUPPORTED);
            }
            if (which == 1 || !grads_op(op)) {
                k.in.target_dtype = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16, 5, -1, INT32_MAX});
                return fail(pfx + "->target_dtype", ENGRAM_ERR_UNSUPPORTED);
            }
            // Gradients are F32 or the inputs' dtype; the other 16-bit type is not.
            const int32_t other16 = p.dtype == ENGRAM_DTYPE_F16 ? ENGRAM_DTYPE_BF16 : ENGRAM_DTYPE_F16;
            k.grads.dtype = pick<int32_t>(in, {ENGRAM_DTYPE_I32, ENGRAM_DTYPE_I64, 6, -1, other16, ENGRAM_DTYPE_BF16});
            if (k.grads.dtype == p.dtype) k.grads.dtype = other16;
            return fail("grads->dtype", ENGRAM_ERR_UNSUPPORTED);
        }
        case kSize: {
            const int which = in.ConsumeIntegralInRange(0, 4);
            if (!input_op(op)) {
                if (which == 3) {  // more shards than vocabulary ids
                    k.cshards = k.cvocab + in.ConsumeIntegralInRange<int64_t>(1, 3);
                    fail("num_shards");
                    x.needles.push_back("vocab_total");
                    return "fault: num_shards > vocab_total";
                }
                int64_t& f = which == 0 ? k.cn : which == 1 ? k.cshards : k.cvocab;
                f = bad_size(in);
                return fail(which == 0 ? "n" : which == 1 ? "num_shards" : "vocab_total");
            }
            if (which <= 2) {
                int64_t& f = which == 0 ? k.in.n : which == 1 ? k.in.d : k.in.v;
                f = bad_size(in);
                return fail(pfx + (which == 0 ? "->n" : which == 1 ? "->d" : "->v"));
            }
            if (which == 3) {  // vocab_total: 0 means v, so only negatives, huge, or < v
                int64_t bad = pick<int64_t>(in, {-1, kI64Min, int64_t(1) << 31, int64_t(1) << 62, kI64Max, p.v - 1});
                if (bad == 0) bad = -1;
                k.in.vocab_total = bad;
                return fail(pfx + "->vocab_total");
            }
            const int64_t vt = k.in.vocab_total == 0 ? k.in.v : k.in.vocab_total;
            k.in.vocab_start = pick<int64_t>(in, {-1, kI64Min, kI64Max, int64_t(1) << 62, vt - k.in.v + 1});
            return fail(pfx + "->vocab_start");
        }
        case kNullTensor: {
            std::vector<std::pair<std::string, std::function<void()>>> req;
            if (input_op(op)) {
                req.push_back({pfx + "->e", [&] { k.in.e = nullptr; }});
                req.push_back({pfx + "->c", [&] { k.in.c = nullptr; }});
                req.push_back({pfx + "->targets", [&] { k.in.targets = nullptr; }});
            } else {
                req.push_back({"shard_lse", [&] { k.cs_lse = nullptr; }});
                req.push_back({"target_logit", [&] { k.cs_tl = nullptr; }});
                req.push_back({"targets", [&] { k.ctargets = nullptr; }});
                if (smoothing) req.push_back({"logit_sum", [&] { k.cs_ls = nullptr; }});
            }
            if (op == FORWARD || op == FORWARD_BACKWARD || op == SHARD_COMBINE)
                req.push_back({"loss", [&] { k.loss = nullptr; }});
            if (op == SHARD_FORWARD) {
                req.push_back({"shard_lse", [&] { k.shard_lse = nullptr; }});
                req.push_back({"target_logit", [&] { k.target_logit = nullptr; }});
                if (smoothing) req.push_back({"logit_sum", [&] { k.logit_sum = nullptr; }});
            }
            if (op == BACKWARD && p.sharded()) req.push_back({"lse", [&] { k.lse_in = nullptr; }});
            auto& r = req[in.ConsumeIntegralInRange<size_t>(0, req.size() - 1)];
            r.second();
            return fail(r.first);
        }
        case kMisaligned: {
            std::vector<Slot> s = slots(p, k);
            Slot& t = s[in.ConsumeIntegralInRange<size_t>(0, s.size() - 1)];
            size_t off = in.ConsumeIntegralInRange<size_t>(1, 2 * t.align - 1);
            if (off % t.align == 0) off = 1;
            // A copy of the tensor `off` bytes into a block of exactly bytes + off.
            uint8_t* q = a.alloc(t.bytes + off, t.name.c_str(), !t.output, 0xFF) + off;
            std::memcpy(q, t.get(), t.bytes);
            t.set(q);
            return fail(t.name);
        }
        case kOption: {
            k.opts_null = false;
            engram_cce_options& o = k.opts;
            switch (in.ConsumeIntegralInRange(0, 5)) {
                case 0: o.reduction = pick<int32_t>(in, {3, -1, 7, INT32_MIN, INT32_MAX}); return fail("opts->reduction");
                case 1: o.softcap = pick(in, {-1.0f, -1e-30f, kNaN, kInf, -kInf}); return fail("opts->softcap");
                case 2: o.z_loss = pick(in, {-0.1f, -1e-30f, kNaN, kInf, -kInf}); return fail("opts->z_loss");
                case 3:
                    o.label_smoothing = pick(in, {1.0f, 1.5f, -0.1f, -1e-30f, kNaN, kInf, -kInf});
                    return fail("opts->label_smoothing");
                case 4: o.filter_eps = pick(in, {kNaN, kInf, -kInf}); return fail("opts->filter_eps");
                default: o.check_targets = pick<int32_t>(in, {2, -1, INT32_MAX}); return fail("opts->check_targets");
            }
        }
        case kTarget: {
            // One target outside [0, vocab_total) that is not ignore_index.
            // ENGRAM_FUZZ_NO_UNCHECKED=1 leaves out the trusted (check_targets
            // 0) case, to explore past a defect there while it is open.
            static const bool no_unchecked = std::getenv("ENGRAM_FUZZ_NO_UNCHECKED") != nullptr;
            if (!p.opts.check_targets && no_unchecked) break;
            const int64_t vt = p.vt, at = in.ConsumeIntegralInRange<int64_t>(0, p.n - 1);
            int64_t bad = pick<int64_t>(in, {vt, vt + 1, -1, -101, kI64Min, kI64Max, (int64_t(1) << 32) + 3,
                                             INT32_MIN, INT32_MAX});
            if (p.tdtype == ENGRAM_DTYPE_I32 && (bad < INT32_MIN || bad > INT32_MAX)) bad = INT32_MIN;
            if (bad == p.opts.ignore_index) bad = vt;
            void* t = const_cast<void*>(input_op(op) ? k.in.targets : k.ctargets);
            if (p.tdtype == ENGRAM_DTYPE_I64)
                static_cast<int64_t*>(t)[at] = bad;
            else
                static_cast<int32_t*>(t)[at] = int32_t(bad);
            if (!p.opts.check_targets) {  // trusted: defined not to crash, results undefined
                unchecked = true;
                x = Expect{};
                return "unchecked target";
            }
            fail("targets[" + std::to_string(at) + "]", ENGRAM_ERR_OUT_OF_RANGE);
            x.needles.push_back(std::to_string(bad));
            return "fault: bad target";
        }
        case kAlias: {
            // An output overlapping another output or an input: both placed in
            // one block, one of them 8k bytes in (alignment stays valid).
            std::vector<Slot> s = slots(p, k);
            std::vector<size_t> outs;
            for (size_t i = 0; i < s.size(); ++i)
                if (s[i].output) outs.push_back(i);
            if (outs.empty() || s.size() < 2) break;
            Slot& o = s[outs[in.ConsumeIntegralInRange<size_t>(0, outs.size() - 1)]];
            size_t ti = in.ConsumeIntegralInRange<size_t>(0, s.size() - 2);
            if (&s[ti] == &o) ti = s.size() - 1;
            Slot& t = s[ti];
            const bool o_first = in.ConsumeBool();
            const size_t lead = o_first ? o.bytes : t.bytes;
            const size_t off = 8 * in.ConsumeIntegralInRange<size_t>(0, (lead - 1) / 8);
            const size_t o_at = o_first ? 0 : off, t_at = o_first ? off : 0;
            uint8_t* blk = a.alloc(std::max(o_at + o.bytes, t_at + t.bytes), "overlapping block", false, 0xFF);
            std::memcpy(blk + t_at, t.get(), t.bytes);
            o.set(blk + o_at);
            t.set(blk + t_at);
            fail("overlaps");
            x.needles.push_back(o.name);
            x.needles.push_back(t.name);
            return "fault: " + o.name + " overlaps " + t.name;
        }
        case kShardMisuse: {
            const int which = in.ConsumeIntegralInRange(0, 2);
            if ((op == FORWARD || op == FORWARD_BACKWARD) && which == 0) {
                // Shard inputs to an unsharded op (targets stay < v <= vocab_total).
                const int64_t extra = in.ConsumeIntegralInRange<int64_t>(1, kMaxDim);
                k.in.vocab_total = k.in.v + extra;
                k.in.vocab_start = in.ConsumeIntegralInRange<int64_t>(0, extra);
                return fail("vocab_total");
            }
            if (!grads_op(op)) break;
            if (which == 1) {
                k.grads.grad_e = k.grads.grad_c = k.grads.grad_bias = nullptr;
                return fail("grads");
            }
            if (!p.bias) break;
            if (!k.grads.grad_bias) k.grads.grad_bias = a.output(size_t(p.v) * p.gs(), "grad_bias");
            k.in.bias = nullptr;
            fail("grads->grad_bias");
            x.needles.push_back("in->bias");
            return "fault: grad_bias without bias";
        }
        case kAdjacent: {
            // Valid: an output right after another buffer in one block (the
            // overlap check must not be off by one).
            std::vector<Slot> s = slots(p, k);
            std::vector<size_t> outs;
            for (size_t i = 0; i < s.size(); ++i)
                if (s[i].output) outs.push_back(i);
            if (outs.empty() || s.size() < 2) break;
            Slot& o = s[outs[in.ConsumeIntegralInRange<size_t>(0, outs.size() - 1)]];
            size_t ti = in.ConsumeIntegralInRange<size_t>(0, s.size() - 2);
            if (&s[ti] == &o) ti = s.size() - 1;
            Slot& t = s[ti];
            // The second starts at the first's end, rounded up to its alignment.
            const bool o_first = in.ConsumeBool();
            const size_t first = o_first ? (o.bytes + t.align - 1) / t.align * t.align
                                         : (t.bytes + o.align - 1) / o.align * o.align;
            uint8_t* blk = a.alloc(first + (o_first ? t.bytes : o.bytes), "adjacent block", false, 0xFF);
            uint8_t* oq = o_first ? blk : blk + first;
            uint8_t* tq = o_first ? blk + first : blk;
            std::memcpy(tq, t.get(), t.bytes);
            o.set(oq);
            t.set(tq);
            x = Expect{};
            return "";
        }
        default: break;
    }
    x = Expect{};
    return "";
}

}  // namespace fuzz
