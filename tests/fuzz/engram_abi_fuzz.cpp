// engram_abi_fuzz.cpp — libFuzzer target over every entry point of engram.h.
// The first choice of the input picks a CCE op (cce_*.cpp), the context and
// device functions, the information functions, or an attention cache and
// call (attention_fuzz.cpp); the rest of the input builds
// a call, valid or with one fault. Any harness assertion aborts, which
// libFuzzer reports as a crash with the input saved (see README.md).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <iterator>
#include <thread>

#include "attention_fuzz.hpp"
#include "cce_fuzz.hpp"
#include "scan_fuzz.hpp"
#include "scan_mom_fuzz.hpp"
#include "qmatmul_fuzz.hpp"

namespace fuzz {

std::string g_trace;

namespace {

// ENGRAM_FUZZ_TRACE=1 prints every CCE call (to see what a corpus exercises).
const bool g_verbose = std::getenv("ENGRAM_FUZZ_TRACE") != nullptr;
engram_context* g_ctx = nullptr;  // shared by the CCE ops: creating a worker pool per input is slow

template <class T>
T pick(FuzzedDataProvider& in, std::initializer_list<T> values) {
    return *(values.begin() + in.ConsumeIntegralInRange<size_t>(0, values.size() - 1));
}

void expect(const char* what, engram_status got, engram_status status, std::vector<std::string> needles = {}) {
    check_status(what, got, Expect{status, std::move(needles)});
}
#define EXPECT_CALL(call, ...) expect(#call, call, __VA_ARGS__)

// Counter `name` of the context's op stats; false if the op did not set it.
bool counter(const engram_op_stats& st, const char* name, uint64_t& value) {
    const engram_status s = engram_op_stats_counter(&st, name, &value);
    FUZZ_CHECK(s == ENGRAM_OK || s == ENGRAM_ERR_INVALID_ARGUMENT, "engram_op_stats_counter: %s",
               engram_status_string(s));
    return s == ENGRAM_OK;
}

// engram_cce.h: "tokens_valid" on every op, "blocks_total" / "blocks_skipped"
// on the ops with a backward; an exact op (filter_eps 0) skips nothing.
void check_op_stats(const Problem& p, bool unchecked) {
    engram_op_stats st;
    engram_op_stats_init(&st);
    EXPECT_CALL(engram_context_get_op_stats(g_ctx, &st), ENGRAM_OK);
    FUZZ_CHECK(st.op == ENGRAM_OP_CCE_FORWARD + int(p.op) && st.backend == ENGRAM_BACKEND_CPU,
               "op stats name op %d on backend %d", st.op, st.backend);
    uint64_t valid = 0, total = 0, skipped = 0;
    const bool has_valid = counter(st, "tokens_valid", valid);
    FUZZ_CHECK(has_valid || p.op == SHARD_COMBINE, "op stats lack tokens_valid");
    // (An unchecked bad target is counted as valid.)
    FUZZ_CHECK(!has_valid || unchecked || int64_t(valid) == p.valid(),
               "op stats: tokens_valid %llu, expected %lld", (unsigned long long)valid, (long long)p.valid());
    if (p.op != BACKWARD && p.op != FORWARD_BACKWARD) return;
    FUZZ_CHECK(counter(st, "blocks_total", total) && counter(st, "blocks_skipped", skipped),
               "op stats lack blocks_total / blocks_skipped");
    FUZZ_CHECK(skipped <= total, "op stats: %llu of %llu blocks skipped", (unsigned long long)skipped,
               (unsigned long long)total);
    FUZZ_CHECK(p.filter_eps > 0.0f || skipped == 0, "an exact op (filter_eps 0) skipped %llu blocks",
               (unsigned long long)skipped);
}

void fuzz_cce(FuzzedDataProvider& in, CceOp op) {
    EXPECT_CALL(engram_context_set_threads(g_ctx, in.ConsumeIntegralInRange(1, 3)), ENGRAM_OK);
    const Problem p = make_problem(in, op);
    g_trace = p.describe();
    // Backward's lse input: the reference's (any values do for a faulty call).
    std::vector<float> lse(size_t(p.n), 0.0f);
    if (op == BACKWARD && p.lse_in) {
        const engram_test::RefForward f = engram_test::ref_cce_forward(p.ref);
        lse.assign(f.lse.begin(), f.lse.end());
    }
    const CombineInputs ci = op == SHARD_COMBINE ? combine_inputs(p) : CombineInputs{};
    Arena a;
    Call k = build_call(p, a, g_ctx, lse, ci);
    Expect x;
    bool unchecked = false;
    const std::string fault = inject_fault(in, p, a, k, x, unchecked);
    g_trace += fault.empty() ? " | valid" : " | " + fault;
    if (g_verbose) std::fprintf(stderr, "%s\n", g_trace.c_str());
    a.snapshot();
    check_status(op_name(op), invoke(k), x);
    if (x.status != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
    } else {
        a.check_untouched("a valid call", true);
        check_op_stats(p, unchecked);
        if (!unchecked) check_results(p, k);
    }
    // Scratch is the op's own: all of it is released when the call returns.
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    EXPECT_CALL(engram_context_get_memory_stats(g_ctx, &m), ENGRAM_OK);
    FUZZ_CHECK(m.current_bytes == 0 && m.current_bytes <= m.peak_bytes,
               "memory stats after the call: current %llu, peak %llu",
               (unsigned long long)m.current_bytes, (unsigned long long)m.peak_bytes);
}

// Contexts, threads, streams, stats, and the device functions (which a CPU
// context refuses with ENGRAM_ERR_WRONG_BACKEND).
void fuzz_context(FuzzedDataProvider& in) {
    engram_context* ctx = nullptr;
    EXPECT_CALL(engram_context_create(ENGRAM_BACKEND_CPU, in.ConsumeIntegral<int32_t>(), &ctx), ENGRAM_OK);
    const bool null_ctx = in.ConsumeIntegralInRange(0, 7) == 0;  // the one fault: ctx NULL
    engram_context* c = null_ctx ? nullptr : ctx;
    auto status = [&](engram_status s) { return null_ctx ? ENGRAM_ERR_INVALID_ARGUMENT : s; };
    auto needle = [&](const char* n) { return std::vector<std::string>{null_ctx ? "ctx" : n}; };
    const int which = in.ConsumeIntegralInRange(0, 10);
    g_trace = "context op " + std::to_string(which) + (null_ctx ? " ctx=NULL" : "");
    static char host[64];
    switch (which) {
        case 0: {  // create: bad backend, no CUDA here, NULL out
            const int32_t backend = pick<int32_t>(in, {0, 1, 2, -1, 99, INT32_MIN});
            engram_context* made = nullptr;
            if (in.ConsumeBool()) {
                EXPECT_CALL(engram_context_create(ENGRAM_BACKEND_CPU, 0, nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"out"});
                break;
            }
            const engram_status st = engram_context_create(engram_backend(backend), 0, &made);
            if (backend == 0) expect("create CPU", st, ENGRAM_OK);
            else if (backend == 1) expect("create CUDA", st, ENGRAM_ERR_UNSUPPORTED, {"CUDA"});
            else expect("create bad backend", st, ENGRAM_ERR_INVALID_ARGUMENT, {"backend"});
            FUZZ_CHECK((made != nullptr) == (st == ENGRAM_OK), "create: out is %p after %s", (void*)made,
                       engram_status_string(st));
            EXPECT_CALL(engram_context_destroy(made), ENGRAM_OK);
            break;
        }
        case 1: {
            engram_backend b = engram_backend(-1);
            const bool null_out = !null_ctx && in.ConsumeBool();
            expect("get_backend", engram_context_get_backend(c, null_out ? nullptr : &b),
                   null_out ? ENGRAM_ERR_INVALID_ARGUMENT : status(ENGRAM_OK), needle("out"));
            FUZZ_CHECK(null_ctx || null_out || b == ENGRAM_BACKEND_CPU, "get_backend gave %d", int(b));
            break;
        }
        case 2: {  // set_threads in [0, 4096]; 0 = all cores
            const int32_t t = pick<int32_t>(in, {0, 1, 2, 3, 5, 8, -1, 4097, INT32_MIN, INT32_MAX});
            const bool bad = t < 0 || t > 4096;
            int32_t before = 0, after = 0;
            EXPECT_CALL(engram_context_get_threads(ctx, &before), ENGRAM_OK);
            expect("set_threads", engram_context_set_threads(c, t),
                   bad || null_ctx ? ENGRAM_ERR_INVALID_ARGUMENT : ENGRAM_OK, needle("threads"));
            EXPECT_CALL(engram_context_get_threads(ctx, &after), ENGRAM_OK);
            const int32_t hw = int32_t(std::max(1u, std::thread::hardware_concurrency()));
            const int32_t want = bad || null_ctx ? before : t == 0 ? hw : t;
            FUZZ_CHECK(after == want, "threads %d after set_threads(%d), expected %d", after, t, want);
            break;
        }
        case 3: {
            int32_t t = 0;
            const bool null_out = !null_ctx && in.ConsumeBool();
            expect("get_threads", engram_context_get_threads(c, null_out ? nullptr : &t),
                   null_out ? ENGRAM_ERR_INVALID_ARGUMENT : status(ENGRAM_OK), needle("threads"));
            break;
        }
        case 4: {  // streams are CUDA's
            void* s = nullptr;
            expect("set_stream", engram_context_set_stream(c, host), status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            expect("get_stream", engram_context_get_stream(c, &s), status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            if (!null_ctx)
                EXPECT_CALL(engram_context_get_stream(c, nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"stream"});
            break;
        }
        case 5:
        case 6: {  // memory and op stats: NULL, wrong struct_size, valid
            const bool mem = which == 5;
            engram_memory_stats m;
            engram_op_stats o;
            EXPECT_CALL(engram_memory_stats_init(&m), ENGRAM_OK);
            EXPECT_CALL(engram_op_stats_init(&o), ENGRAM_OK);
            const int fault = null_ctx ? 0 : in.ConsumeIntegralInRange(0, 2);
            if (fault == 2) m.struct_size = o.struct_size = pick<uint32_t>(in, {0u, 8u, 33u, 40u, UINT32_MAX});
            const engram_status st = mem ? engram_context_get_memory_stats(c, fault == 1 ? nullptr : &m)
                                         : engram_context_get_op_stats(c, fault == 1 ? nullptr : &o);
            expect("get stats", st, fault || null_ctx ? ENGRAM_ERR_INVALID_ARGUMENT : ENGRAM_OK,
                   needle(fault == 2 ? "stats->struct_size" : "stats"));
            if (st == ENGRAM_OK && mem) FUZZ_CHECK(m.current_bytes == 0 && m.peak_bytes == 0, "fresh context has scratch");
            if (st == ENGRAM_OK && !mem)
                FUZZ_CHECK(o.op == ENGRAM_OP_NONE && o.counter_count == 0, "fresh context has op stats");
            expect("reset_peak", engram_context_reset_peak_memory(c), status(ENGRAM_OK), needle(""));
            break;
        }
        case 7: {  // device memory and copies
            void* p = host;
            expect("device_alloc", engram_device_alloc(c, in.ConsumeIntegral<uint64_t>(), &p),
                   status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            expect("device_free", engram_device_free(c, nullptr), status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            expect("copy_to_device", engram_copy_to_device(c, host, host + 32, 16), status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            expect("copy_to_host", engram_copy_to_host(c, host, host + 32, 16), status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            expect("memset", engram_device_memset(c, host, 7, 16), status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            expect("synchronize", engram_synchronize(c), status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            if (!null_ctx)
                EXPECT_CALL(engram_device_alloc(c, 16, nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"out"});
            break;
        }
        case 8: {  // events
            engram_event* ev = nullptr;
            float ms = 0.0f;
            expect("event_create", engram_event_create(c, &ev), status(ENGRAM_ERR_WRONG_BACKEND), needle("ctx"));
            FUZZ_CHECK(ev == nullptr, "event_create failed but set *out");
            EXPECT_CALL(engram_event_destroy(nullptr), ENGRAM_OK);
            if (!null_ctx) EXPECT_CALL(engram_event_create(c, nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"out"});
            expect("event_record", engram_event_record(c, nullptr), ENGRAM_ERR_INVALID_ARGUMENT, needle("event"));
            EXPECT_CALL(engram_event_elapsed_ms(nullptr, nullptr, &ms), ENGRAM_ERR_INVALID_ARGUMENT, {"start"});
            break;
        }
        case 9:
            EXPECT_CALL(engram_context_destroy(nullptr), ENGRAM_OK);
            break;
        default: {  // contexts created and destroyed in a row
            const int count = in.ConsumeIntegralInRange(1, 4);
            std::vector<engram_context*> many(size_t(count), nullptr);
            for (auto& m : many) EXPECT_CALL(engram_context_create(ENGRAM_BACKEND_CPU, 0, &m), ENGRAM_OK);
            for (auto& m : many) EXPECT_CALL(engram_context_destroy(m), ENGRAM_OK);
        }
    }
    EXPECT_CALL(engram_context_destroy(ctx), ENGRAM_OK);
}

// The op registry: names, the list, engram_op_supported, op-stats counters.
void fuzz_ops(FuzzedDataProvider& in) {
    int32_t count = -1;
    EXPECT_CALL(engram_op_list(nullptr, 0, &count), ENGRAM_OK);
    FUZZ_CHECK(count >= kCceOps, "engram_op_list: %d ops", count);
    // A buffer of exactly `capacity` ids: ASan catches a write past it.
    const int32_t capacity = in.ConsumeIntegralInRange<int32_t>(0, count + 2);
    Arena a;
    auto* ops = reinterpret_cast<engram_op*>(a.alloc(sizeof(engram_op) * size_t(capacity) + 1, "ops", false, 0));
    int32_t again = -1;
    EXPECT_CALL(engram_op_list(ops, capacity, &again), ENGRAM_OK);
    FUZZ_CHECK(again == count, "engram_op_list: %d ops, then %d", count, again);
    for (int32_t i = 0; i < std::min(capacity, count); ++i) {
        FUZZ_CHECK(i == 0 || ops[i] > ops[i - 1], "engram_op_list is not in id order");
        FUZZ_CHECK(engram_op_name(ops[i]) && engram_op_family(ops[i]), "op %d has no name", ops[i]);
    }
    switch (in.ConsumeIntegralInRange(0, 3)) {
        case 0:  // faults of engram_op_list
            EXPECT_CALL(engram_op_list(ops, capacity, nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"count"});
            EXPECT_CALL(engram_op_list(nullptr, 1, &again), ENGRAM_ERR_INVALID_ARGUMENT, {"ops"});
            EXPECT_CALL(engram_op_list(ops, pick<int32_t>(in, {-1, INT32_MIN}), &again), ENGRAM_ERR_INVALID_ARGUMENT,
                        {"capacity"});
            break;
        case 1: {  // names: CCE's are fixed; an id not listed has none
            const int32_t op = pick<int32_t>(in, {0, 99, 100, 101, 102, 103, 104, 105, -1, in.ConsumeIntegral<int32_t>()});
            static const char* const cce[] = {"cce_forward", "cce_backward", "cce_forward_backward",
                                              "cce_shard_forward", "cce_shard_combine"};
            const char* name = engram_op_name(op);
            if (op >= 100 && op <= 104)
                FUZZ_CHECK(name && std::strcmp(name, cce[op - 100]) == 0 && std::strcmp(engram_op_family(op), "cce") == 0,
                           "op %d is named %s", op, name ? name : "NULL");
            bool listed = false;
            for (int32_t i = 0; i < std::min(capacity, count); ++i) listed |= ops[i] == op;
            if (capacity >= count) FUZZ_CHECK(listed == (name != nullptr), "op %d: listed %d, name %s", op, listed, name ? name : "NULL");
            FUZZ_CHECK((name == nullptr) == (engram_op_family(op) == nullptr), "op %d: name without family", op);
            break;
        }
        case 2: {  // engram_op_supported: CCE takes f32/f16/bf16 on CPU; no CUDA in this build
            const int32_t backend = pick<int32_t>(in, {0, 0, 1, 2, -1});
            const int32_t op = pick<int32_t>(in, {100, 101, 102, 103, 104, 0, 105, in.ConsumeIntegral<int32_t>()});
            const int32_t dt = pick<int32_t>(in, {0, 1, 2, 3, 4, 5, 6, -1});
            const engram_status st = engram_op_supported(engram_backend(backend), op, engram_dtype(dt));
            const bool known = engram_op_name(op) != nullptr;
            if (backend != 0 && backend != 1) expect("op_supported", st, ENGRAM_ERR_INVALID_ARGUMENT, {"backend"});
            else if (!known) expect("op_supported", st, ENGRAM_ERR_INVALID_ARGUMENT, {"op"});
            else if (dt < 0 || dt > 5) expect("op_supported", st, ENGRAM_ERR_INVALID_ARGUMENT, {"dtype"});
            else if (backend == 1) expect("op_supported", st, ENGRAM_ERR_UNSUPPORTED, {"CUDA"});
            else if (op >= 100 && op <= 104)  // combine reads only f32 statistics
                expect("op_supported", st, dt == 0 || (dt <= 2 && op != 104) ? ENGRAM_OK : ENGRAM_ERR_UNSUPPORTED);
            else FUZZ_CHECK(st == ENGRAM_OK || st == ENGRAM_ERR_UNSUPPORTED, "op_supported(%d) = %s", op,
                            engram_status_string(st));
            break;
        }
        default: {  // engram_op_stats_counter over arbitrary stats bytes
            engram_op_stats st;
            const std::vector<uint8_t> bytes = in.ConsumeBytes<uint8_t>(sizeof st);
            std::memset(&st, 0, sizeof st);
            if (!bytes.empty()) std::memcpy(&st, bytes.data(), bytes.size());
            st.struct_size = sizeof st;
            const int fault = in.ConsumeIntegralInRange(0, 4);
            if (fault == 0) st.struct_size = pick<uint32_t>(in, {0u, 32u, uint32_t(sizeof st) + 8});
            if (fault != 1) st.counter_count = in.ConsumeIntegralInRange<int32_t>(0, ENGRAM_OP_COUNTERS);
            const std::string name = in.ConsumeRandomLengthString(30).c_str();
            const char* np = fault == 2 ? nullptr : reinterpret_cast<const char*>(a.input(name.c_str(), name.size() + 1, "name"));
            uint64_t value = 0;
            const engram_status s = engram_op_stats_counter(fault == 3 ? nullptr : &st, np, fault == 4 ? nullptr : &value);
            if (fault == 0) expect("op_stats_counter", s, ENGRAM_ERR_INVALID_ARGUMENT, {"stats->struct_size"});
            else if (fault == 2) expect("op_stats_counter", s, ENGRAM_ERR_INVALID_ARGUMENT, {"name"});
            else if (fault == 3) expect("op_stats_counter", s, ENGRAM_ERR_INVALID_ARGUMENT, {"stats"});
            else if (fault == 4) expect("op_stats_counter", s, ENGRAM_ERR_INVALID_ARGUMENT, {"value"});
            else if (st.counter_count < 0 || st.counter_count > ENGRAM_OP_COUNTERS)
                expect("op_stats_counter", s, ENGRAM_ERR_INVALID_ARGUMENT, {"stats->counter_count"});
            else {  // found exactly when a set counter (terminated within its 24 bytes) has that name
                int at = -1;
                for (int i = 0; i < st.counter_count && at < 0; ++i)
                    if (std::memchr(st.counters[i].name, 0, sizeof st.counters[i].name) &&
                        name == st.counters[i].name)
                        at = i;
                if (at >= 0) {
                    expect("op_stats_counter", s, ENGRAM_OK);
                    FUZZ_CHECK(value == st.counters[at].value, "counter %s = %llu", name.c_str(), (unsigned long long)value);
                } else {
                    FUZZ_CHECK(s == ENGRAM_ERR_INVALID_ARGUMENT, "counter %s: %s", name.c_str(), engram_status_string(s));
                }
            }
        }
    }
}

// Version, status strings, dtype sizes, capabilities, device info, layouts, inits.
void fuzz_info(FuzzedDataProvider& in) {
    const int which = in.ConsumeIntegralInRange(0, 7);
    g_trace = "info op " + std::to_string(which);
    switch (which) {
        case 0:
            FUZZ_CHECK(std::strcmp(engram_version(), ENGRAM_VERSION_STRING) == 0, "version %s", engram_version());
            FUZZ_CHECK(engram_abi_version() == ENGRAM_ABI_VERSION, "abi version %d", engram_abi_version());
            break;
        case 1: {
            const int32_t s = in.ConsumeIntegral<int32_t>();
            const char* name = engram_status_string(engram_status(s));
            FUZZ_CHECK(name && std::strncmp(name, "ENGRAM_", 7) == 0, "status_string(%d) = %s", s, name ? name : "NULL");
            FUZZ_CHECK((s >= 0 && s <= 8) == (std::strcmp(name, "ENGRAM_STATUS_UNKNOWN") != 0),
                       "status_string(%d) = %s", s, name);
            break;
        }
        case 2: {  // sizes in bytes (0 for unknown and sub-byte dtypes) and bits
            const int32_t dt = pick<int32_t>(in, {0, 1, 2, 3, 4, 5, 6, -1, in.ConsumeIntegral<int32_t>()});
            const int32_t bits = dt == 0 || dt == 3 ? 32 : dt == 1 || dt == 2 ? 16 : dt == 4 ? 64 : dt == 5 ? 2 : 0;
            FUZZ_CHECK(engram_dtype_size(engram_dtype(dt)) == size_t(bits % 8 ? 0 : bits / 8), "dtype_size(%d) = %zu",
                       dt, engram_dtype_size(engram_dtype(dt)));
            FUZZ_CHECK(engram_dtype_bits(engram_dtype(dt)) == bits, "dtype_bits(%d) = %d", dt,
                       engram_dtype_bits(engram_dtype(dt)));
            break;
        }
        case 3: {
            engram_capabilities caps;
            EXPECT_CALL(engram_capabilities_init(&caps), ENGRAM_OK);
            switch (in.ConsumeIntegralInRange(0, 2)) {
                case 0:
                    EXPECT_CALL(engram_get_capabilities(nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"caps"});
                    EXPECT_CALL(engram_capabilities_init(nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"caps"});
                    break;
                case 1:
                    caps.struct_size = pick<uint32_t>(in, {0u, caps.struct_size - 4, caps.struct_size + 4, UINT32_MAX});
                    EXPECT_CALL(engram_get_capabilities(&caps), ENGRAM_ERR_INVALID_ARGUMENT, {"caps->struct_size"});
                    break;
                default:
                    EXPECT_CALL(engram_get_capabilities(&caps), ENGRAM_OK);
                    FUZZ_CHECK(caps.has_cpu == 1 && caps.abi_version == ENGRAM_ABI_VERSION && caps.cuda_built == 0 &&
                                   caps.cuda_device_count == 0 && caps.cpu_dtypes == 7 && caps.cuda_dtypes == 0 &&
                                   caps.cpu_threads >= 1 && caps.cpu_isa >= 0 && caps.cpu_isa <= 3,
                               "capabilities are not sane");
                    FUZZ_CHECK(std::memchr(caps.cpu_name, 0, sizeof caps.cpu_name) &&
                                   std::memchr(caps.cuda_status, 0, sizeof caps.cuda_status),
                               "capability strings are not terminated");
            }
            break;
        }
        case 4: {
            engram_device_info info;
            EXPECT_CALL(engram_device_info_init(&info), ENGRAM_OK);
            const int32_t dev = in.ConsumeIntegral<int32_t>();
            switch (in.ConsumeIntegralInRange(0, 2)) {
                case 0: EXPECT_CALL(engram_cuda_device_info(dev, nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"info"}); break;
                case 1:
                    info.struct_size = pick<uint32_t>(in, {0u, info.struct_size - 8, info.struct_size + 8});
                    EXPECT_CALL(engram_cuda_device_info(dev, &info), ENGRAM_ERR_INVALID_ARGUMENT, {"info->struct_size"});
                    break;
                default:  // this build has no CUDA backend
                    EXPECT_CALL(engram_cuda_device_info(dev, &info), ENGRAM_ERR_UNSUPPORTED, {"CUDA"});
            }
            break;
        }
        case 5: {  // struct layouts: known entries, and arbitrary strings
            struct Known {
                const char *s, *f;
                uint64_t value;
            };
            static const Known known[] = {
                {"engram_capabilities", nullptr, sizeof(engram_capabilities)},
                {"engram_capabilities", "cuda_status", offsetof(engram_capabilities, cuda_status)},
                {"engram_device_info", nullptr, sizeof(engram_device_info)},
                {"engram_device_info", "name", offsetof(engram_device_info, name)},
                {"engram_memory_stats", nullptr, sizeof(engram_memory_stats)},
                {"engram_memory_stats", "allocations", offsetof(engram_memory_stats, allocations)},
                {"engram_op_stats", nullptr, sizeof(engram_op_stats)},
                {"engram_op_stats", "counters", offsetof(engram_op_stats, counters)},
                {"engram_op_counter", nullptr, sizeof(engram_op_counter)},
                {"engram_op_counter", "value", offsetof(engram_op_counter, value)},
                {"engram_cce_options", nullptr, sizeof(engram_cce_options)},
                {"engram_cce_options", "check_targets", offsetof(engram_cce_options, check_targets)},
                {"engram_cce_options", "scratch_bytes", offsetof(engram_cce_options, scratch_bytes)},
                {"engram_cce_inputs", nullptr, sizeof(engram_cce_inputs)},
                {"engram_cce_inputs", "targets", offsetof(engram_cce_inputs, targets)},
                {"engram_cce_grads", nullptr, sizeof(engram_cce_grads)},
                {"engram_cce_grads", "grad_bias", offsetof(engram_cce_grads, grad_bias)},
            };
            uint64_t value = 0;
            const int mode = in.ConsumeIntegralInRange(0, 3);
            if (mode == 0) {
                const Known& k = known[in.ConsumeIntegralInRange<size_t>(0, std::size(known) - 1)];
                EXPECT_CALL(engram_struct_layout(k.s, k.f, &value), ENGRAM_OK);
                FUZZ_CHECK(value == k.value, "layout %s.%s = %llu, expected %llu", k.s, k.f ? k.f : "",
                           (unsigned long long)value, (unsigned long long)k.value);
            } else if (mode == 1) {
                EXPECT_CALL(engram_struct_layout(nullptr, nullptr, &value), ENGRAM_ERR_INVALID_ARGUMENT, {"struct_name"});
                EXPECT_CALL(engram_struct_layout("engram_cce_grads", nullptr, nullptr), ENGRAM_ERR_INVALID_ARGUMENT, {"value"});
            } else {
                // Exact-size copies, so reading past the terminator is caught.
                // (Up to the first NUL: that is the string the library sees.)
                const std::string s = in.ConsumeRandomLengthString(40).c_str();
                const std::string f = in.ConsumeRandomLengthString(40).c_str();
                Arena a;
                const char* sp = reinterpret_cast<const char*>(a.input(s.c_str(), s.size() + 1, "struct_name"));
                const char* fp = mode == 3 ? nullptr : reinterpret_cast<const char*>(a.input(f.c_str(), f.size() + 1, "field"));
                const engram_status st = engram_struct_layout(sp, fp, &value);
                bool struct_known = false;
                for (const Known& k : known) struct_known |= s == k.s;
                if (!struct_known || (st != ENGRAM_OK && fp))
                    expect("struct_layout", st, ENGRAM_ERR_INVALID_ARGUMENT, {"no"});
                else
                    FUZZ_CHECK(st == ENGRAM_OK && (fp || value > 0) && value < 4096, "layout %s.%s", sp, fp ? fp : "");
            }
            break;
        }
        case 6:
            fuzz_ops(in);
            break;
        default: {  // the *_init functions
            const int k = in.ConsumeIntegralInRange(0, 6);
            static const char* const names[] = {"opts", "inputs", "grads", "stats", "stats", "caps", "info"};
            engram_status st = ENGRAM_OK;
            switch (k) {
                case 0: st = engram_cce_options_init(nullptr); break;
                case 1: st = engram_cce_inputs_init(nullptr); break;
                case 2: st = engram_cce_grads_init(nullptr); break;
                case 3: st = engram_memory_stats_init(nullptr); break;
                case 4: st = engram_op_stats_init(nullptr); break;
                case 5: st = engram_capabilities_init(nullptr); break;
                default: st = engram_device_info_init(nullptr);
            }
            expect("init(NULL)", st, ENGRAM_ERR_INVALID_ARGUMENT, {names[k]});
            engram_cce_options o;
            std::memset(&o, 0xAB, sizeof o);
            EXPECT_CALL(engram_cce_options_init(&o), ENGRAM_OK);
            FUZZ_CHECK(o.struct_size == sizeof o && o.reduction == ENGRAM_REDUCTION_MEAN && o.ignore_index == -100 &&
                           o.softcap == 0.0f && o.label_smoothing == 0.0f && o.z_loss == 0.0f &&
                           o.filter_eps == ENGRAM_FILTER_EPS_AUTO && o.check_targets == 1 && o.reserved == 0 && o.scratch_bytes == 0,
                       "engram_cce_options_init defaults");
        }
    }
}

}  // namespace
}  // namespace fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    using namespace fuzz;
    engram_capabilities caps;
    engram_capabilities_init(&caps);
    FUZZ_CHECK(engram_get_capabilities(&caps) == ENGRAM_OK, "engram_get_capabilities: %s", engram_last_error());
    // ENGRAM_CPU_ISA can only lower the ISA the hardware has.
    const char* want = std::getenv("ENGRAM_CPU_ISA");
    const int cap = !want                               ? 3
                    : std::strcmp(want, "scalar") == 0 ? 0
                    : std::strcmp(want, "avx2") == 0   ? 1
                    : std::strcmp(want, "avx512") == 0 ? 2
                                                       : 3;
    static const char* const isa[] = {"scalar", "avx2", "avx512", "avx512_bf16"};
    std::fprintf(stderr, "engram_abi_fuzz: kernels %s (ENGRAM_CPU_ISA=%s), %d threads\n", isa[caps.cpu_isa],
                 want ? want : "unset", caps.cpu_threads);
    FUZZ_CHECK(caps.cpu_isa <= cap, "ENGRAM_CPU_ISA=%s but the kernels are %s", want, isa[caps.cpu_isa]);
    FUZZ_CHECK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &g_ctx) == ENGRAM_OK, "context: %s", engram_last_error());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace fuzz;
    FuzzedDataProvider in(data, size);
    const int op = in.ConsumeIntegralInRange(0, kCceOps + 6);
    if (op < kCceOps) fuzz_cce(in, CceOp(op));
    else if (op == kCceOps) fuzz_context(in);
    else if (op == kCceOps + 1) fuzz_info(in);
    else if (op == kCceOps + 2) fuzz_scan(in, g_ctx);     // scan_fuzz.cpp
    else if (op == kCceOps + 3) fuzz_qmatmul(in, g_ctx);  // qmatmul_fuzz.cpp
    else if (op == kCceOps + 4) fuzz_attention(in, g_ctx);  // attention_fuzz.cpp
    else if (op == kCceOps + 5) fuzz_scan_delta(in, g_ctx);  // scan_delta_fuzz.cpp
    else fuzz_scan_mom(in, g_ctx);  // scan_mom_fuzz.cpp (MoM, BASED, Titans)
    return 0;
}
