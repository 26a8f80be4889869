// abi_test.cpp — the C ABI outside the ops: library information, status
// strings, capabilities, struct layouts, the *_init functions, contexts,
// threads, statistics, and the device/stream/event functions (which on a CPU
// context must answer ENGRAM_ERR_WRONG_BACKEND). Every bad input gets the right
// status and a message naming the argument; no call may crash (the sanitizer
// build runs these too). CCE's own bad-input tests are in cce_abi_test.cpp.
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <set>
#include <string>

#include "c_callers.h"
#include "test_util.hpp"

namespace engram_test {
namespace {

// --- library information ------------------------------------------------------------

TEST(AbiInfo, VersionMatchesTheHeader) {
    ASSERT_NE(nullptr, engram_version());
    EXPECT_STREQ(ENGRAM_VERSION_STRING, engram_version());
    // MAJOR.MINOR.PATCH: three non-empty runs of digits separated by dots.
    const std::string v = engram_version();
    int parts = 1, digits = 0;
    bool ok = !v.empty();
    for (char ch : v) {
        if (ch == '.') {
            ok = ok && digits > 0;
            ++parts;
            digits = 0;
        } else {
            ok = ok && ch >= '0' && ch <= '9';
            ++digits;
        }
    }
    EXPECT_TRUE(ok && parts == 3 && digits > 0) << v;
}

TEST(AbiInfo, AbiVersionMatchesTheHeader) { EXPECT_EQ(ENGRAM_ABI_VERSION, engram_abi_version()); }

TEST(AbiInfo, StatusStringOfEveryStatus) {
    const std::pair<engram_status, const char*> all[] = {
        {ENGRAM_OK, "ENGRAM_OK"},
        {ENGRAM_ERR_INVALID_ARGUMENT, "ENGRAM_ERR_INVALID_ARGUMENT"},
        {ENGRAM_ERR_OUT_OF_RANGE, "ENGRAM_ERR_OUT_OF_RANGE"},
        {ENGRAM_ERR_UNSUPPORTED, "ENGRAM_ERR_UNSUPPORTED"},
        {ENGRAM_ERR_NO_DEVICE, "ENGRAM_ERR_NO_DEVICE"},
        {ENGRAM_ERR_OUT_OF_MEMORY, "ENGRAM_ERR_OUT_OF_MEMORY"},
        {ENGRAM_ERR_DEVICE, "ENGRAM_ERR_DEVICE"},
        {ENGRAM_ERR_WRONG_BACKEND, "ENGRAM_ERR_WRONG_BACKEND"},
        {ENGRAM_ERR_INTERNAL, "ENGRAM_ERR_INTERNAL"},
    };
    for (const auto& [status, name] : all) {
        ASSERT_NE(nullptr, engram_status_string(status));
        EXPECT_STREQ(name, engram_status_string(status));
    }
}

TEST(AbiInfo, StatusStringOfAnUnknownStatus) {
    std::set<std::string> known;
    for (int s = 0; s <= 8; ++s) known.insert(engram_status_string(engram_status(s)));
    EXPECT_EQ(9u, known.size()) << "two statuses share a name";
    for (int s : {9, 100, -1}) {  // passed from C: any int is a valid argument there
        const char* text = c_status_string(s);
        ASSERT_NE(nullptr, text) << s;
        EXPECT_GT(std::strlen(text), 0u) << s;
        EXPECT_EQ(0u, known.count(text)) << s << " is named like a known status: " << text;
    }
}

TEST(AbiInfo, StatusValuesAreFixed) {
    // Enum values are fixed forever (engram.h): a binding hard-codes them.
    EXPECT_EQ(0, ENGRAM_OK);
    EXPECT_EQ(1, ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(2, ENGRAM_ERR_OUT_OF_RANGE);
    EXPECT_EQ(3, ENGRAM_ERR_UNSUPPORTED);
    EXPECT_EQ(4, ENGRAM_ERR_NO_DEVICE);
    EXPECT_EQ(5, ENGRAM_ERR_OUT_OF_MEMORY);
    EXPECT_EQ(6, ENGRAM_ERR_DEVICE);
    EXPECT_EQ(7, ENGRAM_ERR_WRONG_BACKEND);
    EXPECT_EQ(8, ENGRAM_ERR_INTERNAL);
    EXPECT_EQ(0, ENGRAM_DTYPE_F32);
    EXPECT_EQ(1, ENGRAM_DTYPE_F16);
    EXPECT_EQ(2, ENGRAM_DTYPE_BF16);
    EXPECT_EQ(3, ENGRAM_DTYPE_I32);
    EXPECT_EQ(4, ENGRAM_DTYPE_I64);
    EXPECT_EQ(0, ENGRAM_BACKEND_CPU);
    EXPECT_EQ(1, ENGRAM_BACKEND_CUDA);
    EXPECT_EQ(0, ENGRAM_REDUCTION_NONE);
    EXPECT_EQ(1, ENGRAM_REDUCTION_SUM);
    EXPECT_EQ(2, ENGRAM_REDUCTION_MEAN);
}

TEST(AbiInfo, DtypeSize) {
    EXPECT_EQ(4u, engram_dtype_size(ENGRAM_DTYPE_F32));
    EXPECT_EQ(2u, engram_dtype_size(ENGRAM_DTYPE_F16));
    EXPECT_EQ(2u, engram_dtype_size(ENGRAM_DTYPE_BF16));
    EXPECT_EQ(4u, engram_dtype_size(ENGRAM_DTYPE_I32));
    EXPECT_EQ(8u, engram_dtype_size(ENGRAM_DTYPE_I64));
    EXPECT_EQ(4u, c_dtype_size(ENGRAM_DTYPE_F32));
    EXPECT_EQ(0u, engram_dtype_size(ENGRAM_DTYPE_U2));  // packed: 4 per byte
    // Unknown values, passed from C.
    EXPECT_EQ(0u, c_dtype_size(6));
    EXPECT_EQ(0u, c_dtype_size(-1));
    EXPECT_EQ(0u, c_dtype_size(1000));
}

TEST(AbiInfo, DtypeBits) {
    EXPECT_EQ(32, engram_dtype_bits(ENGRAM_DTYPE_F32));
    EXPECT_EQ(16, engram_dtype_bits(ENGRAM_DTYPE_F16));
    EXPECT_EQ(16, engram_dtype_bits(ENGRAM_DTYPE_BF16));
    EXPECT_EQ(32, engram_dtype_bits(ENGRAM_DTYPE_I32));
    EXPECT_EQ(64, engram_dtype_bits(ENGRAM_DTYPE_I64));
    EXPECT_EQ(2, engram_dtype_bits(ENGRAM_DTYPE_U2));
    EXPECT_EQ(0, engram_dtype_bits(engram_dtype(6)));
    EXPECT_EQ(0, engram_dtype_bits(engram_dtype(-1)));
}

// --- ops: registry, capability query, op stats ------------------------------------

TEST(AbiOps, ListNamesEveryOpInIdOrder) {
    int32_t count = -1;
    ASSERT_OK(engram_op_list(nullptr, 0, &count));
    ASSERT_GE(count, 5);
    std::vector<engram_op> ops(size_t(count) + 2, -7);
    int32_t again = 0;
    ASSERT_OK(engram_op_list(ops.data(), int32_t(ops.size()), &again));
    EXPECT_EQ(count, again);
    EXPECT_EQ(-7, ops[size_t(count)]) << "wrote past the ops";
    for (int32_t i = 0; i < count; ++i) {
        ASSERT_NE(nullptr, engram_op_name(ops[size_t(i)])) << ops[size_t(i)];
        ASSERT_NE(nullptr, engram_op_family(ops[size_t(i)]));
        const std::string name = engram_op_name(ops[size_t(i)]);
        EXPECT_EQ(0u, name.rfind(engram_op_family(ops[size_t(i)]), 0)) << name << " is not in its family";
        if (i > 0) {
            EXPECT_LT(ops[size_t(i - 1)], ops[size_t(i)]);
        }
    }
    // A short array gets the first ids and the full count.
    std::vector<engram_op> two(2);
    ASSERT_OK(engram_op_list(two.data(), 2, &again));
    EXPECT_EQ(count, again);
    EXPECT_EQ(ops[0], two[0]);
    EXPECT_EQ(ops[1], two[1]);
}

TEST(AbiOps, CceOpsAreNamed) {
    EXPECT_STREQ("cce_forward", engram_op_name(ENGRAM_OP_CCE_FORWARD));
    EXPECT_STREQ("cce_backward", engram_op_name(ENGRAM_OP_CCE_BACKWARD));
    EXPECT_STREQ("cce_forward_backward", engram_op_name(ENGRAM_OP_CCE_FORWARD_BACKWARD));
    EXPECT_STREQ("cce_shard_forward", engram_op_name(ENGRAM_OP_CCE_SHARD_FORWARD));
    EXPECT_STREQ("cce_shard_combine", engram_op_name(ENGRAM_OP_CCE_SHARD_COMBINE));
    EXPECT_STREQ("cce", engram_op_family(ENGRAM_OP_CCE_FORWARD));
    EXPECT_EQ(nullptr, engram_op_name(ENGRAM_OP_NONE));
    EXPECT_EQ(nullptr, engram_op_name(99));
    EXPECT_EQ(nullptr, engram_op_family(-1));
}

TEST(AbiOps, ListRejectsBadArguments) {
    int32_t count = 0;
    engram_op one = 0;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_list(&one, 1, nullptr), "count");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_list(nullptr, 1, &count), "ops");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_list(&one, -1, &count), "capacity");
}

TEST(AbiOps, CpuSupportsEveryCceOpInItsDtypes) {
    for (engram_op op : {ENGRAM_OP_CCE_FORWARD, ENGRAM_OP_CCE_BACKWARD, ENGRAM_OP_CCE_FORWARD_BACKWARD,
                         ENGRAM_OP_CCE_SHARD_FORWARD})
        for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
            EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, op, dt));
    EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_CCE_SHARD_COMBINE, ENGRAM_DTYPE_F32));
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED,
                  engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_CCE_FORWARD, ENGRAM_DTYPE_I32),
                  "cce_forward", "cpu", "i32");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED,
                  engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_CCE_FORWARD, ENGRAM_DTYPE_U2),
                  "u2");
}

TEST(AbiOps, CudaSupportSaysWhyNot) {
    const engram_capabilities caps = capabilities();
    const engram_status st =
        engram_op_supported(ENGRAM_BACKEND_CUDA, ENGRAM_OP_CCE_FORWARD, ENGRAM_DTYPE_BF16);
    const std::string msg = engram_last_error();
    if (!caps.cuda_built) {
        EXPECT_EQ(ENGRAM_ERR_UNSUPPORTED, st) << msg;
        EXPECT_NE(std::string::npos, msg.find("no CUDA backend")) << msg;
    } else if (caps.cuda_device_count == 0) {
        EXPECT_EQ(ENGRAM_ERR_NO_DEVICE, st) << msg;
        EXPECT_NE(std::string::npos, msg.find("cce_forward on cuda")) << msg;
    } else {
        EXPECT_EQ(ENGRAM_OK, st) << msg;
    }
}

TEST(AbiOps, SupportedRejectsUnknownValues) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_op_supported(engram_backend(7), ENGRAM_OP_CCE_FORWARD, ENGRAM_DTYPE_F32),
                  "backend 7");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_op_supported(ENGRAM_BACKEND_CPU, 12345, ENGRAM_DTYPE_F32), "op 12345");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_CCE_FORWARD, engram_dtype(42)),
                  "dtype 42");
}

TEST(AbiOps, OpStatsSayWhichOpFilledThem) {
    engram_context* ctx = nullptr;
    ASSERT_OK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx));
    engram_op_stats st;
    ASSERT_OK(engram_op_stats_init(&st));
    ASSERT_OK(engram_context_get_op_stats(ctx, &st));
    EXPECT_EQ(ENGRAM_OP_NONE, st.op);
    EXPECT_EQ(0, st.counter_count);
    const float e[2] = {1.0f, 2.0f}, c[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    const int64_t t[1] = {1};
    engram_cce_inputs in;
    engram_cce_inputs_init(&in);
    in.n = 1;
    in.d = 2;
    in.v = 2;
    in.e = e;
    in.c = c;
    in.targets = t;
    float loss = 0.0f, ge[2];
    ASSERT_OK(engram_cce_forward(ctx, &in, nullptr, &loss, nullptr));
    ASSERT_OK(engram_context_get_op_stats(ctx, &st));
    EXPECT_EQ(ENGRAM_OP_CCE_FORWARD, st.op);
    EXPECT_EQ(ENGRAM_BACKEND_CPU, st.backend);
    uint64_t value = 0;
    EXPECT_OK(engram_op_stats_counter(&st, "tokens_valid", &value));
    EXPECT_EQ(1u, value);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_stats_counter(&st, "blocks_total", &value),
                  "blocks_total", "cce_forward");
    engram_cce_grads g;
    engram_cce_grads_init(&g);
    g.grad_e = ge;
    ASSERT_OK(engram_cce_backward(ctx, &in, nullptr, nullptr, nullptr, &g));
    ASSERT_OK(engram_context_get_op_stats(ctx, &st));
    EXPECT_EQ(ENGRAM_OP_CCE_BACKWARD, st.op);
    EXPECT_OK(engram_op_stats_counter(&st, "blocks_total", &value));
    EXPECT_GT(value, 0u);
    // A failing op still says which op it was, with no counters.
    EXPECT_NE(ENGRAM_OK, engram_cce_forward(ctx, &in, nullptr, nullptr, nullptr));
    ASSERT_OK(engram_context_get_op_stats(ctx, &st));
    EXPECT_EQ(ENGRAM_OP_CCE_FORWARD, st.op);
    EXPECT_EQ(0, st.counter_count);
    ASSERT_OK(engram_context_destroy(ctx));
}

TEST(AbiOps, OpStatsCounterRejectsBadArguments) {
    engram_op_stats st;
    ASSERT_OK(engram_op_stats_init(&st));
    uint64_t v = 0;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_stats_counter(nullptr, "x", &v), "stats");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_stats_counter(&st, nullptr, &v), "name");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_stats_counter(&st, "x", nullptr), "value");
    st.counter_count = 99;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_stats_counter(&st, "x", &v), "counter_count");
    st.counter_count = 1;
    std::memset(st.counters[0].name, 'a', sizeof st.counters[0].name);  // no NUL: never read past
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_stats_counter(&st, "aaaa", &v), "aaaa");
    st.struct_size = 4;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_stats_counter(&st, "x", &v), "struct_size");
}

TEST(AbiInfo, LastErrorIsEmptyAfterASuccessfulCall) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_get_capabilities(nullptr), "caps");
    ASSERT_STRNE("", engram_last_error());
    engram_capabilities caps;
    ASSERT_OK(engram_capabilities_init(&caps));
    ASSERT_NE(nullptr, engram_last_error());
    EXPECT_STREQ("", engram_last_error());
    // Also after a successful op on a context.
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_threads(nullptr, nullptr), "ctx");
    engram_context* ctx = nullptr;
    ASSERT_OK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx));
    EXPECT_STREQ("", engram_last_error());
    int32_t threads = 0;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_threads(ctx, nullptr), "threads");
    EXPECT_OK(engram_context_get_threads(ctx, &threads));
    EXPECT_STREQ("", engram_last_error());
    EXPECT_OK(engram_context_destroy(ctx));
}

TEST(AbiInfo, LastErrorStaysUntilTheNextCall) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_get_capabilities(nullptr), "caps");
    const std::string first = engram_last_error();
    // Functions that return no status do not clear it.
    (void)engram_version();
    (void)engram_abi_version();
    (void)engram_status_string(ENGRAM_OK);
    (void)engram_dtype_size(ENGRAM_DTYPE_F32);
    EXPECT_EQ(first, engram_last_error());
    EXPECT_EQ(first, engram_last_error()) << "reading the message must not clear it";
}

// --- capabilities and devices ------------------------------------------------------

TEST(AbiInfo, CapabilitiesAreSane) {
    engram_capabilities caps;
    std::memset(&caps, 0x5a, sizeof caps);
    ASSERT_OK(engram_capabilities_init(&caps));
    EXPECT_EQ(sizeof caps, caps.struct_size);
    ASSERT_OK(engram_get_capabilities(&caps));
    EXPECT_EQ(ENGRAM_ABI_VERSION, caps.abi_version);
    EXPECT_EQ(1, caps.has_cpu);
    EXPECT_TRUE(caps.cuda_built == 0 || caps.cuda_built == 1) << caps.cuda_built;
    EXPECT_GE(caps.cuda_device_count, 0);
    EXPECT_GE(caps.cpu_isa, int(ENGRAM_CPU_ISA_SCALAR));
    EXPECT_LE(caps.cpu_isa, int(ENGRAM_CPU_ISA_AVX512_BF16));
    EXPECT_GE(caps.cpu_threads, 1);
    const uint32_t floats = (1u << ENGRAM_DTYPE_F32) | (1u << ENGRAM_DTYPE_F16) | (1u << ENGRAM_DTYPE_BF16);
    EXPECT_EQ(floats, caps.cpu_dtypes) << "CPU inputs: f32, f16, bf16 (never the id types)";
    if (caps.cuda_built) {
        EXPECT_EQ(floats, caps.cuda_dtypes);
    } else {
        EXPECT_EQ(0u, caps.cuda_dtypes);
        EXPECT_EQ(0, caps.cuda_device_count);
    }
    ASSERT_NE(nullptr, std::memchr(caps.cpu_name, 0, sizeof caps.cpu_name)) << "cpu_name not terminated";
    ASSERT_NE(nullptr, std::memchr(caps.cuda_status, 0, sizeof caps.cuda_status))
        << "cuda_status not terminated";
    EXPECT_GT(std::strlen(caps.cpu_name), 0u);
    if (caps.cuda_device_count > 0) {
        EXPECT_STREQ("ok", caps.cuda_status);
    } else {
        EXPECT_GT(std::strlen(caps.cuda_status), 0u) << "no device, but no reason given";
        EXPECT_STRNE("ok", caps.cuda_status);
    }
}

TEST(AbiInfo, CapabilitiesRejectBadArguments) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_get_capabilities(nullptr), "caps");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_capabilities_init(nullptr), "caps");
    for (uint32_t size : {0u, uint32_t(sizeof(engram_capabilities) - 4),
                          uint32_t(sizeof(engram_capabilities) + 8), 0xffffffffu}) {
        engram_capabilities caps;
        engram_capabilities_init(&caps);
        caps.struct_size = size;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_get_capabilities(&caps), "caps",
                      "struct_size");
    }
}

TEST(AbiInfo, CudaDeviceInfo) {
    const engram_capabilities caps = capabilities();
    engram_device_info info;
    ASSERT_OK(engram_device_info_init(&info));
    EXPECT_EQ(sizeof info, info.struct_size);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_cuda_device_info(0, nullptr), "info");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_info_init(nullptr), "info");
    engram_device_info bad;
    engram_device_info_init(&bad);
    bad.struct_size = 3;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_cuda_device_info(0, &bad), "info", "struct_size");
    if (!caps.cuda_built) {
        EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, engram_cuda_device_info(0, &info), "CUDA");
    } else if (caps.cuda_device_count == 0) {
        EXPECT_STATUS(ENGRAM_ERR_NO_DEVICE, engram_cuda_device_info(0, &info));
    } else {
        ASSERT_OK(engram_cuda_device_info(0, &info));
        EXPECT_EQ(0, info.device);
        EXPECT_GT(info.sm_count, 0);
        EXPECT_GE(info.cc_major, 7);
        EXPECT_GT(info.total_memory, 0u);
        EXPECT_LE(info.free_memory, info.total_memory);
        EXPECT_GT(std::strlen(info.name), 0u);
        EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, engram_cuda_device_info(-1, &info), "device");
        EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, engram_cuda_device_info(caps.cuda_device_count, &info),
                      "device");
    }
}

// --- struct layouts -------------------------------------------------------------

struct LayoutEntry {
    const char* struct_name;
    const char* field;  // nullptr: sizeof
    uint64_t value;
};

#define SIZE_OF(S) LayoutEntry{#S, nullptr, sizeof(S)}
#define OFFSET_OF(S, F) LayoutEntry{#S, #F, offsetof(S, F)}

// Every public field of every ABI struct (the reserved padding excepted).
const LayoutEntry kLayout[] = {
    SIZE_OF(engram_capabilities),
    OFFSET_OF(engram_capabilities, struct_size),
    OFFSET_OF(engram_capabilities, abi_version),
    OFFSET_OF(engram_capabilities, has_cpu),
    OFFSET_OF(engram_capabilities, cuda_built),
    OFFSET_OF(engram_capabilities, cuda_device_count),
    OFFSET_OF(engram_capabilities, cpu_isa),
    OFFSET_OF(engram_capabilities, cpu_threads),
    OFFSET_OF(engram_capabilities, cpu_dtypes),
    OFFSET_OF(engram_capabilities, cuda_dtypes),
    OFFSET_OF(engram_capabilities, cpu_name),
    OFFSET_OF(engram_capabilities, cuda_status),
    SIZE_OF(engram_device_info),
    OFFSET_OF(engram_device_info, struct_size),
    OFFSET_OF(engram_device_info, device),
    OFFSET_OF(engram_device_info, sm_count),
    OFFSET_OF(engram_device_info, cc_major),
    OFFSET_OF(engram_device_info, cc_minor),
    OFFSET_OF(engram_device_info, total_memory),
    OFFSET_OF(engram_device_info, free_memory),
    OFFSET_OF(engram_device_info, name),
    SIZE_OF(engram_memory_stats),
    OFFSET_OF(engram_memory_stats, struct_size),
    OFFSET_OF(engram_memory_stats, current_bytes),
    OFFSET_OF(engram_memory_stats, peak_bytes),
    OFFSET_OF(engram_memory_stats, allocations),
    SIZE_OF(engram_op_stats),
    OFFSET_OF(engram_op_stats, struct_size),
    OFFSET_OF(engram_op_stats, op),
    OFFSET_OF(engram_op_stats, backend),
    OFFSET_OF(engram_op_stats, counter_count),
    OFFSET_OF(engram_op_stats, counters),
    SIZE_OF(engram_op_counter),
    OFFSET_OF(engram_op_counter, name),
    OFFSET_OF(engram_op_counter, value),
    SIZE_OF(engram_cce_options),
    OFFSET_OF(engram_cce_options, struct_size),
    OFFSET_OF(engram_cce_options, reduction),
    OFFSET_OF(engram_cce_options, ignore_index),
    OFFSET_OF(engram_cce_options, softcap),
    OFFSET_OF(engram_cce_options, label_smoothing),
    OFFSET_OF(engram_cce_options, z_loss),
    OFFSET_OF(engram_cce_options, filter_eps),
    OFFSET_OF(engram_cce_options, check_targets),
    SIZE_OF(engram_cce_inputs),
    OFFSET_OF(engram_cce_inputs, struct_size),
    OFFSET_OF(engram_cce_inputs, dtype),
    OFFSET_OF(engram_cce_inputs, target_dtype),
    OFFSET_OF(engram_cce_inputs, n),
    OFFSET_OF(engram_cce_inputs, d),
    OFFSET_OF(engram_cce_inputs, v),
    OFFSET_OF(engram_cce_inputs, vocab_start),
    OFFSET_OF(engram_cce_inputs, vocab_total),
    OFFSET_OF(engram_cce_inputs, e),
    OFFSET_OF(engram_cce_inputs, c),
    OFFSET_OF(engram_cce_inputs, bias),
    OFFSET_OF(engram_cce_inputs, targets),
    SIZE_OF(engram_cce_grads),
    OFFSET_OF(engram_cce_grads, struct_size),
    OFFSET_OF(engram_cce_grads, dtype),
    OFFSET_OF(engram_cce_grads, grad_e),
    OFFSET_OF(engram_cce_grads, grad_c),
    OFFSET_OF(engram_cce_grads, grad_bias),
};

#undef SIZE_OF
#undef OFFSET_OF

std::string layout_name(const LayoutEntry& e) {
    return std::string(e.struct_name) + (e.field ? std::string(".") + e.field : " (sizeof)");
}

TEST(AbiLayout, ReportedLayoutMatchesTheCompiler) {
    // Whatever the library reports must be right.
    for (const LayoutEntry& e : kLayout) {
        uint64_t value = ~uint64_t(0);
        if (engram_struct_layout(e.struct_name, e.field, &value) != ENGRAM_OK) continue;
        EXPECT_EQ(e.value, value) << layout_name(e);
    }
}

TEST(AbiLayout, SizeOfEveryStructIsReported) {
    for (const LayoutEntry& e : kLayout) {
        if (e.field) continue;
        uint64_t value = 0;
        EXPECT_OK(engram_struct_layout(e.struct_name, nullptr, &value));
        EXPECT_EQ(e.value, value) << layout_name(e);
        EXPECT_EQ(e.value, c_sizeof(e.struct_name)) << layout_name(e) << ": C and C++ disagree";
    }
}

TEST(AbiLayout, EveryPublicFieldIsReported) {
    // A binding checks each field it declares, so each must be answerable.
    std::string missing;
    for (const LayoutEntry& e : kLayout) {
        uint64_t value = 0;
        if (engram_struct_layout(e.struct_name, e.field, &value) != ENGRAM_OK)
            missing += "\n    " + layout_name(e);
    }
    EXPECT_TRUE(missing.empty()) << "engram_struct_layout does not know:" << missing;
}

TEST(AbiLayout, UnknownNamesAreErrors) {
    uint64_t value = 7;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_struct_layout("engram_nothing", nullptr, &value),
                  "engram_nothing");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_struct_layout("engram_cce_options", "no_such_field", &value), "no_such_field");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_struct_layout("", nullptr, &value));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_struct_layout("engram_cce_inputs", "", &value));
    // A field of one struct asked of another.
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_struct_layout("engram_cce_grads", "softcap", &value), "softcap");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_struct_layout(nullptr, nullptr, &value),
                  "struct_name");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_struct_layout("engram_cce_options", nullptr, nullptr), "value");
    EXPECT_EQ(7u, value) << "a failed call wrote its output";
}

// --- init functions ----------------------------------------------------------------

TEST(AbiInit, OptionsDefaults) {
    engram_cce_options o;
    std::memset(&o, 0xab, sizeof o);
    ASSERT_OK(engram_cce_options_init(&o));
    EXPECT_EQ(sizeof o, o.struct_size);
    EXPECT_EQ(ENGRAM_REDUCTION_MEAN, o.reduction);
    EXPECT_EQ(-100, o.ignore_index);
    EXPECT_EQ(0.0f, o.softcap);
    EXPECT_EQ(0.0f, o.label_smoothing);
    EXPECT_EQ(0.0f, o.z_loss);
    EXPECT_EQ(ENGRAM_FILTER_EPS_AUTO, o.filter_eps);
    EXPECT_EQ(1, o.check_targets);
    EXPECT_EQ(0, o.reserved);
}

TEST(AbiInit, InputsDefaults) {
    engram_cce_inputs in;
    std::memset(&in, 0xab, sizeof in);
    ASSERT_OK(engram_cce_inputs_init(&in));
    EXPECT_EQ(sizeof in, in.struct_size);
    EXPECT_EQ(ENGRAM_DTYPE_F32, in.dtype);
    EXPECT_EQ(ENGRAM_DTYPE_I64, in.target_dtype);
    EXPECT_EQ(0, in.reserved);
    EXPECT_EQ(0, in.n);
    EXPECT_EQ(0, in.d);
    EXPECT_EQ(0, in.v);
    EXPECT_EQ(0, in.vocab_start);
    EXPECT_EQ(0, in.vocab_total);
    EXPECT_EQ(nullptr, in.e);
    EXPECT_EQ(nullptr, in.c);
    EXPECT_EQ(nullptr, in.bias);
    EXPECT_EQ(nullptr, in.targets);
}

TEST(AbiInit, GradsDefaults) {
    engram_cce_grads g;
    std::memset(&g, 0xab, sizeof g);
    ASSERT_OK(engram_cce_grads_init(&g));
    EXPECT_EQ(sizeof g, g.struct_size);
    EXPECT_EQ(ENGRAM_DTYPE_F32, g.dtype);
    EXPECT_EQ(nullptr, g.grad_e);
    EXPECT_EQ(nullptr, g.grad_c);
    EXPECT_EQ(nullptr, g.grad_bias);
}

TEST(AbiInit, StatsAndInfoStructs) {
    engram_memory_stats m;
    std::memset(&m, 0xab, sizeof m);
    ASSERT_OK(engram_memory_stats_init(&m));
    EXPECT_EQ(sizeof m, m.struct_size);
    EXPECT_EQ(0u, m.current_bytes);
    EXPECT_EQ(0u, m.peak_bytes);
    EXPECT_EQ(0u, m.allocations);
    engram_op_stats st;
    std::memset(&st, 0xab, sizeof st);
    ASSERT_OK(engram_op_stats_init(&st));
    EXPECT_EQ(sizeof st, st.struct_size);
    EXPECT_EQ(0u, op_counter(st, "blocks_total"));
    engram_capabilities caps;
    std::memset(&caps, 0xab, sizeof caps);
    ASSERT_OK(engram_capabilities_init(&caps));
    EXPECT_EQ(sizeof caps, caps.struct_size);
    engram_device_info info;
    std::memset(&info, 0xab, sizeof info);
    ASSERT_OK(engram_device_info_init(&info));
    EXPECT_EQ(sizeof info, info.struct_size);
}

TEST(AbiInit, NullIsRejected) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_cce_options_init(nullptr), "opts");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_cce_inputs_init(nullptr), "inputs");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_cce_grads_init(nullptr), "grads");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_memory_stats_init(nullptr), "stats");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_op_stats_init(nullptr), "stats");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_capabilities_init(nullptr), "caps");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_info_init(nullptr), "info");
}

// --- contexts ----------------------------------------------------------------------

TEST(AbiContext, CreateAndDestroyCpu) {
    engram_context* ctx = nullptr;
    ASSERT_OK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx));
    ASSERT_NE(nullptr, ctx);
    engram_backend b = ENGRAM_BACKEND_CUDA;
    EXPECT_OK(engram_context_get_backend(ctx, &b));
    EXPECT_EQ(ENGRAM_BACKEND_CPU, b);
    EXPECT_OK(engram_context_destroy(ctx));
}

TEST(AbiContext, CpuIgnoresTheDeviceArgument) {
    for (int32_t device : {-1, 7, std::numeric_limits<int32_t>::max()}) {
        engram_context* ctx = nullptr;
        EXPECT_OK(engram_context_create(ENGRAM_BACKEND_CPU, device, &ctx));
        EXPECT_NE(nullptr, ctx);
        EXPECT_OK(engram_context_destroy(ctx));
    }
}

TEST(AbiContext, DestroyNullIsAccepted) { EXPECT_OK(engram_context_destroy(nullptr)); }

TEST(AbiContext, CreateRejectsBadBackend) {
    for (int backend : {2, -1, 99}) {  // passed from C
        engram_context* ctx = reinterpret_cast<engram_context*>(0x1);
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, c_context_create(backend, 0, &ctx), "backend");
        EXPECT_EQ(nullptr, ctx) << "*out must be NULL after a failed create";
    }
}

TEST(AbiContext, CreateRejectsNullOut) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_create(ENGRAM_BACKEND_CPU, 0, nullptr),
                  "out");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_create(ENGRAM_BACKEND_CUDA, 0, nullptr),
                  "out");
}

TEST(AbiContext, CudaContextWithoutCudaOrDevice) {
    const engram_capabilities caps = capabilities();
    if (caps.cuda_device_count > 0) GTEST_SKIP() << "a CUDA device is present";
    engram_context* ctx = reinterpret_cast<engram_context*>(0x1);
    const engram_status st = engram_context_create(ENGRAM_BACKEND_CUDA, 0, &ctx);
    const std::string msg = engram_last_error();
    EXPECT_TRUE(st == ENGRAM_ERR_UNSUPPORTED || st == ENGRAM_ERR_NO_DEVICE) << status_text(st);
    if (!caps.cuda_built) {
        EXPECT_EQ(ENGRAM_ERR_UNSUPPORTED, st) << "this build has no CUDA backend";
    }
    EXPECT_NE(std::string::npos, msg.find("CUDA")) << msg;
    EXPECT_EQ(nullptr, ctx);
    if (st == ENGRAM_OK) engram_context_destroy(ctx);
}

TEST(AbiContext, CudaContextWithABadDevice) {
    const engram_capabilities caps = capabilities();
    if (caps.cuda_device_count == 0) GTEST_SKIP() << "no CUDA device: " << caps.cuda_status;
    for (int32_t device : {-1, caps.cuda_device_count}) {
        engram_context* ctx = nullptr;
        EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, engram_context_create(ENGRAM_BACKEND_CUDA, device, &ctx),
                      "device");
        EXPECT_EQ(nullptr, ctx);
        engram_context_destroy(ctx);
    }
}

class AbiCpuContext : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_OK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx_)); }
    void TearDown() override { engram_context_destroy(ctx_); }
    engram_context* ctx_ = nullptr;
};

TEST(AbiContext, NullContextIsRejectedEverywhere) {
    engram_backend b;
    int32_t threads;
    void* p = nullptr;
    float host[4] = {};
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    engram_op_stats st;
    engram_op_stats_init(&st);
    engram_event* ev = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_backend(nullptr, &b), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_set_threads(nullptr, 1), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_threads(nullptr, &threads), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_set_stream(nullptr, nullptr), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_stream(nullptr, &p), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_memory_stats(nullptr, &m), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_reset_peak_memory(nullptr), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_op_stats(nullptr, &st), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_alloc(nullptr, 16, &p), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_free(nullptr, host), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_copy_to_device(nullptr, host, host, 4), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_copy_to_host(nullptr, host, host, 4), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_memset(nullptr, host, 0, 4), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_synchronize(nullptr), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_event_create(nullptr, &ev), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_event_record(nullptr, reinterpret_cast<engram_event*>(host)), "ctx");
    EXPECT_EQ(0.0f, host[0]) << "a failed call wrote through a pointer";
}

TEST_F(AbiCpuContext, GetBackendRejectsNullOut) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_backend(ctx_, nullptr), "out");
}

TEST_F(AbiCpuContext, SetThreadsBounds) {
    const engram_capabilities caps = capabilities();
    int32_t threads = -5;
    ASSERT_OK(engram_context_get_threads(ctx_, &threads));
    EXPECT_EQ(caps.cpu_threads, threads) << "a new CPU context uses the default thread count";
    for (int32_t bad : {-1, -100, 4097, std::numeric_limits<int32_t>::max(),
                        std::numeric_limits<int32_t>::min()}) {
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_set_threads(ctx_, bad), "threads");
    }
    ASSERT_OK(engram_context_get_threads(ctx_, &threads));
    EXPECT_EQ(caps.cpu_threads, threads) << "a rejected set_threads changed the count";
    for (int32_t good : {1, 3, 2}) {
        ASSERT_OK(engram_context_set_threads(ctx_, good));
        ASSERT_OK(engram_context_get_threads(ctx_, &threads));
        EXPECT_EQ(good, threads);
    }
    ASSERT_OK(engram_context_set_threads(ctx_, 0));
    ASSERT_OK(engram_context_get_threads(ctx_, &threads));
    EXPECT_EQ(caps.cpu_threads, threads) << "0 restores the default";
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_threads(ctx_, nullptr), "threads");
}

TEST_F(AbiCpuContext, StatsRejectNullAndBadStructSize) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_memory_stats(ctx_, nullptr), "stats");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_op_stats(ctx_, nullptr), "stats");
    for (uint32_t size : {0u, 4u, 1000u}) {
        engram_memory_stats m;
        engram_memory_stats_init(&m);
        m.struct_size = size;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_memory_stats(ctx_, &m), "stats",
                      "struct_size");
        engram_op_stats st;
        engram_op_stats_init(&st);
        st.struct_size = size;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_op_stats(ctx_, &st), "stats",
                      "struct_size");
    }
    EXPECT_OK(engram_context_reset_peak_memory(ctx_));
}

TEST_F(AbiCpuContext, DeviceFunctionsNeedACudaContext) {
    float host[16] = {};
    void* out = host;
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_device_alloc(ctx_, 64, &out), "CUDA");
    EXPECT_EQ(nullptr, out) << "*out must be NULL after a failed alloc";
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_alloc(ctx_, 64, nullptr), "out");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_device_free(ctx_, host), "CUDA");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_copy_to_device(ctx_, host, host + 8, 16), "CUDA");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_copy_to_host(ctx_, host, host + 8, 16), "CUDA");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_device_memset(ctx_, host, 1, 16), "CUDA");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_synchronize(ctx_), "CUDA");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_context_set_stream(ctx_, nullptr), "CUDA");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_context_set_stream(ctx_, host), "CUDA");
    void* stream = host;
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_context_get_stream(ctx_, &stream), "CUDA");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_context_get_stream(ctx_, nullptr), "stream");
    engram_event* ev = reinterpret_cast<engram_event*>(host);
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_event_create(ctx_, &ev), "CUDA");
    EXPECT_EQ(nullptr, ev) << "*out must be NULL after a failed event_create";
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_event_create(ctx_, nullptr), "out");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND,
                  engram_event_record(ctx_, reinterpret_cast<engram_event*>(host)), "CUDA");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_event_record(ctx_, nullptr), "event");
    for (float x : host) EXPECT_EQ(0.0f, x) << "a rejected device call wrote host memory";
}

TEST(AbiEvents, NullArguments) {
    EXPECT_OK(engram_event_destroy(nullptr));
    float ms = -1.0f;
    float dummy[4] = {};
    auto* fake = reinterpret_cast<engram_event*>(dummy);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_event_elapsed_ms(nullptr, fake, &ms), "start");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_event_elapsed_ms(fake, nullptr, &ms), "end");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_event_elapsed_ms(fake, fake, nullptr), "ms");
    EXPECT_EQ(-1.0f, ms);
}

// --- CUDA contexts (where a device exists) ------------------------------------------

class AbiCudaContext : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string why = backend_unavailable_reason(ENGRAM_BACKEND_CUDA);
        if (!why.empty()) GTEST_SKIP() << why;
        ASSERT_OK(engram_context_create(ENGRAM_BACKEND_CUDA, 0, &ctx_));
    }
    void TearDown() override { engram_context_destroy(ctx_); }
    engram_context* ctx_ = nullptr;
};

TEST_F(AbiCudaContext, DeviceMemoryRoundTrip) {
    void* d = nullptr;
    ASSERT_OK(engram_device_alloc(ctx_, 256, &d));
    ASSERT_NE(nullptr, d);
    std::vector<uint8_t> src(256), back(256, 0);
    for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i * 7);
    EXPECT_OK(engram_copy_to_device(ctx_, d, src.data(), 256));
    EXPECT_OK(engram_copy_to_host(ctx_, back.data(), d, 256));
    EXPECT_EQ(src, back);
    EXPECT_OK(engram_device_memset(ctx_, d, 0xab, 256));
    EXPECT_OK(engram_copy_to_host(ctx_, back.data(), d, 256));
    for (uint8_t b : back) ASSERT_EQ(0xab, b);
    EXPECT_OK(engram_synchronize(ctx_));
    EXPECT_OK(engram_device_free(ctx_, d));
    EXPECT_OK(engram_device_free(ctx_, nullptr));
}

TEST_F(AbiCudaContext, DeviceFunctionsRejectBadArguments) {
    void* d = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_alloc(ctx_, 0, &d), "bytes");
    ASSERT_OK(engram_device_alloc(ctx_, 64, &d));
    uint8_t host[128] = {};
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_copy_to_device(ctx_, nullptr, host, 4), "dst");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_copy_to_device(ctx_, d, nullptr, 4), "src");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_copy_to_host(ctx_, nullptr, d, 4), "dst");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_copy_to_host(ctx_, host, nullptr, 4), "src");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_memset(ctx_, d, 256, 4), "value");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_device_memset(ctx_, d, -1, 4), "value");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_copy_to_device(ctx_, d, host, 128), "dst");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_copy_to_host(ctx_, host, d, 128), "src");
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_copy_to_device(ctx_, host, host, 4), "dst");
    EXPECT_OK(engram_device_free(ctx_, d));
}

TEST_F(AbiCudaContext, EventsTimeWork) {
    engram_event *a = nullptr, *b = nullptr;
    ASSERT_OK(engram_event_create(ctx_, &a));
    ASSERT_OK(engram_event_create(ctx_, &b));
    EXPECT_OK(engram_event_record(ctx_, a));
    void* d = nullptr;
    ASSERT_OK(engram_device_alloc(ctx_, 1 << 20, &d));
    EXPECT_OK(engram_device_memset(ctx_, d, 1, 1 << 20));
    EXPECT_OK(engram_event_record(ctx_, b));
    float ms = -1;
    EXPECT_OK(engram_event_elapsed_ms(a, b, &ms));
    EXPECT_GE(ms, 0.0f);
    EXPECT_OK(engram_device_free(ctx_, d));
    EXPECT_OK(engram_event_destroy(a));
    EXPECT_OK(engram_event_destroy(b));
}

TEST_F(AbiCudaContext, StreamsAndThreads) {
    void* s = reinterpret_cast<void*>(0x1);
    EXPECT_OK(engram_context_get_stream(ctx_, &s));
    EXPECT_OK(engram_context_set_stream(ctx_, nullptr));
    int32_t threads = -1;
    EXPECT_OK(engram_context_get_threads(ctx_, &threads));
    EXPECT_EQ(0, threads) << "a CUDA context has no CPU worker threads";
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, engram_context_set_threads(ctx_, 2), "CUDA");
}

}  // namespace
}  // namespace engram_test
