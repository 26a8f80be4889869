// qmatmul_cases.cpp — see qmatmul_cases.hpp.
#include "qmatmul_cases.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "engram.h"
#include "naive_cpu.hpp"
#include "registry.hpp"
#include "runtime_blas.hpp"
#include "shared/half.h"

namespace engram_bench {

namespace {

struct QSettings {
    std::vector<engram_suite::Dims> shapes;  // empty: the suite's bench shapes
    std::vector<int64_t> ms{1, 8, 512};
    engram_dtype x_dtype = ENGRAM_DTYPE_F32;
    engram_dtype scale_dtype = ENGRAM_DTYPE_F16;
    int reps = 5, warmup = 1, threads = 0;
    int64_t dram_mib = 512;  // working set of the rotated ("from DRAM") runs
    std::vector<int> bitstack_planes{1, 2, 4};  // BitStack GEMV (m = 1) over these p
    bool baselines = true, probes = true;
    std::string json_path;
    uint64_t seed = 1;
};

const char kQHelp[] =
    "usage: engram-bench bench qmatmul [--shape n=N,k=K,g=G] [--m 1,8,512] [--dtype f32|f16|bf16]\n"
    "                                 [--scales f16|f32] [--reps R] [--warmup W] [--threads T]\n"
    "                                 [--dram-mib MIB] [--bitstack 1,2,4 | --no-bitstack]\n"
    "                                 [--no-baselines] [--no-probes] [--json FILE]\n"
    "  --shape      one shape (default: n=4096,k=4096 / n=11008,k=4096 / n=4096,k=14336, g=128)\n"
    "  --m          activation rows to time (default 1,8,512)\n"
    "  --dram-mib   bytes of distinct weights the DRAM runs rotate over (default 512 MiB)\n"
    "  --bitstack   BitStack GEMV (m = 1) over these numbers of sign planes (default 1,2,4)\n";

[[noreturn]] void qusage(const std::string& msg) {
    std::fprintf(stderr, "engram-bench: %s\n%s", msg.c_str(), kQHelp);
    std::exit(2);
}

long long qpositive(const std::string& option, const std::string& v) {
    char* end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || !end || *end || x <= 0) qusage("bad value for " + option + ": " + v);
    return x;
}

std::vector<std::string> qsplit(const std::string& s, char sep = ',') {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep))
        if (!item.empty()) out.push_back(item);
    return out;
}

QSettings parse(int argc, char** argv, int first) {
    QSettings s;
    for (int i = first; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) qusage("missing value for " + a);
            return argv[++i];
        };
        if (a == "--shape") {
            engram_suite::Dims d{{"g", 128}};
            for (const std::string& item : qsplit(value())) {
                const size_t eq = item.find('=');
                const std::string name = eq == std::string::npos ? item : item.substr(0, eq);
                if (eq == std::string::npos || (name != "n" && name != "k" && name != "g"))
                    qusage("--shape wants n=, k=, g= items (qmatmul's dims), got " + item);
                d[name] = qpositive("--shape " + name, item.substr(eq + 1));
            }
            if (!d.count("n") || !d.count("k")) qusage("--shape needs n and k");
            s.shapes.push_back(d);
        } else if (a == "--m") {
            s.ms.clear();
            for (const std::string& item : qsplit(value())) s.ms.push_back(qpositive("--m", item));
        } else if (a == "--dtype") {
            if (!engram_suite::parse_dtype(value(), s.x_dtype)) qusage("--dtype must be f32, f16 or bf16");
        } else if (a == "--scales") {
            const std::string v = value();
            if (v == "f16") s.scale_dtype = ENGRAM_DTYPE_F16;
            else if (v == "f32") s.scale_dtype = ENGRAM_DTYPE_F32;
            else qusage("--scales must be f16 or f32");
        } else if (a == "--reps") s.reps = int(qpositive(a, value()));
        else if (a == "--warmup") s.warmup = std::max(0, std::atoi(value().c_str()));
        else if (a == "--threads") s.threads = std::atoi(value().c_str());
        else if (a == "--dram-mib") s.dram_mib = qpositive(a, value());
        else if (a == "--no-baselines") s.baselines = false;
        else if (a == "--bitstack") {
            s.bitstack_planes.clear();
            for (const std::string& item : qsplit(value())) {
                const long long p = qpositive("--bitstack", item);
                if (p > 32) qusage("--bitstack: at most 32 planes");
                s.bitstack_planes.push_back(int(p));
            }
        } else if (a == "--no-bitstack") s.bitstack_planes.clear();
        else if (a == "--no-probes") s.probes = false;
        else if (a == "--json") s.json_path = value();
        else if (a == "--seed") s.seed = uint64_t(qpositive(a, value()));
        else if (a == "--help" || a == "-h") { std::fputs(kQHelp, stdout); std::exit(0); }
        else qusage("unknown option " + a);
    }
    return s;
}

void check(engram_status st, const char* what) {
    if (st != ENGRAM_OK) throw std::runtime_error(std::string(what) + ": " + engram_last_error());
}

// Fast deterministic filler (xorshift64*): the benchmark's matrices only
// need distinct, non-trivial contents.
struct Filler {
    uint64_t x;
    explicit Filler(uint64_t seed) : x(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next() {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        return x * 0x2545F4914F6CDD1Dull;
    }
    float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() >> 40) / float(1 << 24); }
};

// The last-level cache size from sysfs, 0 if unknown.
int64_t llc_bytes() {
    int64_t best = 0;
    for (int i = 0; i < 8; ++i) {
        std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
        std::string text;
        if (!(f >> text)) continue;
        int64_t v = std::atoll(text.c_str());
        if (!text.empty() && (text.back() == 'K' || text.back() == 'k')) v <<= 10;
        if (!text.empty() && text.back() == 'M') v <<= 20;
        best = std::max(best, v);
    }
    return best;
}

// Read bandwidth: sum 1 GiB of 64-bit words with every core, best of `reps`.
double read_bandwidth_gbs(int reps) {
    const size_t count = size_t(1) << 27;  // 2^27 words = 1 GiB
    std::unique_ptr<uint64_t[]> a(new uint64_t[count]);
#pragma omp parallel for
    for (int64_t i = 0; i < int64_t(count); ++i) a[size_t(i)] = uint64_t(i);
    uint64_t sink = 0;
    const Timing t = time_reps(1, reps, [&] {
        uint64_t sum = 0;
#pragma omp parallel for reduction(+ : sum)
        for (int64_t i = 0; i < int64_t(count); ++i) sum += a[size_t(i)];
        sink += sum;
    });
    if (sink == 42) std::printf(" ");  // keeps the sums
    return double(count) * 8.0 / (t.min() * 1e-3) / 1e9;
}

struct QCase {
    std::string impl, variant, where;  // engram / blas; "w2 prepared" ...; cache / dram
    int64_t m = 0, n = 0, k = 0, g = 0;
    Timing timing;       // per call
    double weight_bytes = 0.0;
    int64_t matrices = 0;      // distinct matrices rotated over
    double working_set = 0.0;  // their bytes
    std::string notes;
    double ms() const { return timing.median(); }
    double gbs() const { return weight_bytes / (ms() * 1e-3) / 1e9; }
    double gflops() const { return 2.0 * double(m) * double(n) * double(k) / (ms() * 1e-3) / 1e9; }
};

// Times calls of fn(matrix index) rotating over `count` matrices (count 1:
// the same matrix every call): per rep `calls` calls, time per call.
Timing time_calls(int warmup, int reps, int64_t count, int64_t calls,
                  const std::function<void(int64_t)>& fn) {
    for (int w = 0; w < warmup; ++w)
        for (int64_t i = 0; i < std::min(calls, count); ++i) fn(i % count);
    Timing t;
    for (int r = 0; r < reps; ++r) {
        const double t0 = now_ms();
        for (int64_t i = 0; i < calls; ++i) fn(i % count);
        t.ms.push_back((now_ms() - t0) / double(calls));
    }
    return t;
}

// R distinct quantized matrices in the CPU-prepared layout.
struct QMatrices {
    std::vector<std::vector<uint32_t>> codes;
    std::vector<std::vector<uint8_t>> scales, zeros;
    std::vector<engram_qweight> w;
    double bytes_each = 0.0;
};

QMatrices make_qmatrices(int64_t count, int64_t n, int64_t k, int64_t g, engram_dtype sd,
                         uint64_t seed) {
    QMatrices q;
    uint64_t words = 0;
    check(engram_qmatmul_code_words(n, k, ENGRAM_QLAYOUT_CPU_PREPARED, &words), "code_words");
    const size_t ns = size_t(n * (k / g)), ss = engram_dtype_size(sd);
    Filler f(seed);
    q.codes.resize(static_cast<size_t>(count));
    q.scales.resize(static_cast<size_t>(count));
    q.zeros.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
        std::vector<uint32_t>& c = q.codes[size_t(i)];
        c.resize(words);
        for (uint64_t j = 0; j < words; ++j) c[j] = uint32_t(f.next() >> 32);
        // Padding rows of the prepared layout are zero.
        for (int64_t r = n; r < (n + 3) / 4 * 4; ++r)
            for (int64_t w = 0; w < k / 16; ++w) c[size_t(((r / 4) * (k / 16) + w) * 4 + r % 4)] = 0;
        for (auto* v : {&q.scales[size_t(i)], &q.zeros[size_t(i)]}) {
            v->resize(ns * ss);
            const bool zero = v == &q.zeros[size_t(i)];
            for (size_t j = 0; j < ns; ++j) {
                const float x = zero ? f.uniform(-1.0f, 1.0f) : f.uniform(0.001f, 0.05f);
                if (sd == ENGRAM_DTYPE_F16) {
                    const uint16_t h = engram::f32_to_f16(x);
                    std::memcpy(v->data() + 2 * j, &h, 2);
                } else {
                    std::memcpy(v->data() + 4 * j, &x, 4);
                }
            }
        }
    }
    q.bytes_each = double(words) * 4.0 + 2.0 * double(ns * ss);
    for (int64_t i = 0; i < count; ++i) {
        engram_qweight w;
        engram_qweight_init(&w);
        w.scale_dtype = sd;
        w.group_size = int32_t(g);
        w.layout = ENGRAM_QLAYOUT_CPU_PREPARED;
        w.n_out = n;
        w.k = k;
        w.codes = q.codes[size_t(i)].data();
        w.code_words = words;
        w.scales = q.scales[size_t(i)].data();
        w.zeros = q.zeros[size_t(i)].data();
        q.w.push_back(w);
    }
    return q;
}

std::vector<uint8_t> activations(int64_t m, int64_t k, engram_dtype dt, uint64_t seed) {
    Filler f(seed);
    const size_t n = size_t(m * k), es = engram_dtype_size(dt);
    std::vector<uint8_t> raw(n * es);
    for (size_t i = 0; i < n; ++i) {
        const float x = f.uniform(-1.0f, 1.0f);
        if (dt == ENGRAM_DTYPE_F32) std::memcpy(&raw[4 * i], &x, 4);
        else {
            const uint16_t h = dt == ENGRAM_DTYPE_BF16 ? engram::f32_to_bf16(x) : engram::f32_to_f16(x);
            std::memcpy(&raw[2 * i], &h, 2);
        }
    }
    return raw;
}

int64_t rotation_count(double bytes_each, int64_t dram_mib) {
    return std::max<int64_t>(2, int64_t(std::ceil(double(dram_mib) * 1048576.0 / bytes_each)));
}

void print(const QCase& c) {
    std::printf("  %-7s %-22s m=%-4lld %-5s %10.3f ms  %8.2f GB/s weights  %8.2f GFLOP/s  (%lld matrices, %.1f MiB)%s%s\n",
                c.impl.c_str(), c.variant.c_str(), (long long)c.m, c.where.c_str(), c.ms(), c.gbs(),
                c.gflops(), (long long)c.matrices, c.working_set / 1048576.0,
                c.notes.empty() ? "" : "  ", c.notes.c_str());
    std::fflush(stdout);
}

const QCase* find(const std::vector<QCase>& cases, const std::string& impl, int64_t n, int64_t k,
                  int64_t m, const std::string& where, const std::string& variant_prefix) {
    for (const QCase& c : cases)
        if (c.impl == impl && c.n == n && c.k == k && c.m == m && c.where == where &&
            c.variant.rfind(variant_prefix, 0) == 0)
            return &c;
    return nullptr;
}

// BitStack GEMV (m = 1) over p planes of random signs and scales (timing
// does not depend on the values; correctness was validated on the reduced
// shape), cache-resident and rotating over distinct copies.
void time_bitstack(const QSettings& s, engram_context* ctx, int64_t n, int64_t k,
                   std::vector<QCase>& cases, const std::function<void()>& written) {
    if (k % 32 != 0) return;
    const int pmax = *std::max_element(s.bitstack_planes.begin(), s.bitstack_planes.end());
    const uint64_t words = uint64_t(pmax) * uint64_t(n) * uint64_t(k / 32);
    const double bytes_each = double(words) * 4.0 + double(pmax) * double(n + k) * 4.0;
    const int64_t rot = rotation_count(bytes_each, s.dram_mib);
    std::vector<std::vector<uint32_t>> signs(static_cast<size_t>(rot));
    std::vector<std::vector<float>> u(static_cast<size_t>(rot)), v(static_cast<size_t>(rot));
    Filler f(s.seed + 21);
    for (int64_t i = 0; i < rot; ++i) {
        signs[size_t(i)].resize(words);
        for (uint32_t& w : signs[size_t(i)]) w = uint32_t(f.next() >> 32);
        u[size_t(i)].resize(size_t(pmax) * size_t(n));
        for (float& x : u[size_t(i)]) x = f.uniform(0.0f, 1.0f);
        v[size_t(i)].resize(size_t(pmax) * size_t(k));
        for (float& x : v[size_t(i)]) x = f.uniform(0.0f, 0.05f);
    }
    std::vector<engram_bitstack> b(static_cast<size_t>(rot));
    for (int64_t i = 0; i < rot; ++i) {
        engram_bitstack_init(&b[size_t(i)]);
        b[size_t(i)].planes = pmax;
        b[size_t(i)].n_out = n;
        b[size_t(i)].k = k;
        b[size_t(i)].signs = signs[size_t(i)].data();
        b[size_t(i)].sign_words = words;
        b[size_t(i)].row_scales = u[size_t(i)].data();
        b[size_t(i)].col_scales = v[size_t(i)].data();
    }
    const std::vector<uint8_t> x = activations(1, k, s.x_dtype, s.seed + 22);
    std::vector<float> y(static_cast<size_t>(n));
    for (int p : s.bitstack_planes)
        for (const char* where : {"cache", "dram"}) {
            const bool dram = std::string(where) == "dram";
            QCase c;
            c.impl = "engram";
            c.variant = "bitstack p=" + std::to_string(p);
            c.where = where;
            c.m = 1;
            c.n = n;
            c.k = k;
            // Bytes of the p planes read: signs, u and v.
            c.weight_bytes = double(p) * (double(n) * double(k) / 8.0 + double(n + k) * 4.0);
            c.matrices = dram ? rot : 1;
            c.working_set = bytes_each * double(c.matrices);
            c.timing = time_calls(s.warmup, s.reps, c.matrices, rot, [&](int64_t i) {
                check(engram_qmatmul_bitstack(ctx, &b[size_t(i)], p, 1, s.x_dtype, x.data(), ENGRAM_DTYPE_F32,
                                              y.data()),
                      "engram_qmatmul_bitstack");
            });
            print(c);
            cases.push_back(c);
            written();
        }
}

std::string json_of(const QSettings& s, const std::vector<QCase>& cases, double read_gbs,
                    double triad_gbs, int64_t llc, const std::string& blas,
                    const std::vector<std::string>& validated, const std::string& error) {
    Json j;
    j.begin_object();
    j.field("schema", "engram-bench-qmatmul/1");
    j.field("engram_version", engram_version());
    j.field("x_dtype", engram_suite::dtype_name(s.x_dtype));
    j.field("scale_dtype", engram_suite::dtype_name(s.scale_dtype));
    j.field("threads", s.threads);
    j.field("reps", s.reps);
    j.field("read_bandwidth_gbs", read_gbs);
    j.field("triad_bandwidth_gbs", triad_gbs);
    j.field("last_level_cache_bytes", llc);
    j.field("dram_working_set_mib", s.dram_mib);
    j.field("blas", blas);
    j.begin_array("validated");
    for (const std::string& v : validated) {
        j.begin_object();
        j.field("case", v);
        j.end_object();
    }
    j.end_array();
    j.begin_array("cases");
    for (const QCase& c : cases) {
        j.begin_object();
        j.field("impl", c.impl);
        j.field("variant", c.variant);
        j.field("where", c.where);
        j.field("m", c.m);
        j.field("n", c.n);
        j.field("k", c.k);
        j.field("g", c.g);
        j.field("median_ms", c.ms());
        j.field("min_ms", c.timing.min());
        j.field("max_ms", c.timing.max());
        j.field("weight_bytes", c.weight_bytes);
        j.field("weight_gbs", c.gbs());
        j.field("gflops", c.gflops());
        j.field("matrices", c.matrices);
        j.field("working_set_bytes", c.working_set);
        j.field("notes", c.notes);
        j.end_object();
    }
    j.end_array();
    if (error.empty()) j.null("error"); else j.field("error", error);
    j.end_object();
    return j.str();
}

}  // namespace

int run_qmatmul_bench(int argc, char** argv, int first) {
    QSettings s = parse(argc, argv, first);
    const engram_suite::Suite* suite = engram_suite::find_suite("qmatmul");
    if (!suite) qusage("no qmatmul suite");
    if (s.shapes.empty()) s.shapes = suite->bench_shapes();
    for (engram_suite::Dims& d : s.shapes) d.erase("m");
    engram_context* ctx = nullptr;
    if (engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx) != ENGRAM_OK ||
        engram_context_set_threads(ctx, s.threads) != ENGRAM_OK) {
        std::fprintf(stderr, "engram-bench: cpu context: %s\n", engram_last_error());
        return 2;
    }
    std::unique_ptr<engram_context, void (*)(engram_context*)> ctx_guard(
        ctx, [](engram_context* c) { engram_context_destroy(c); });

    // 1. Fail closed: every (shape, m) engram will time, on its reduced shape.
    std::printf("validating the cases against the float64 reference before timing ...\n");
    std::vector<std::string> validated;
    std::string error;
    for (const engram_suite::Dims& shape : s.shapes)
        for (int64_t m : s.ms) {
            engram_suite::Dims b = shape;
            b["m"] = m;
            engram_suite::Case c;
            c.op = "qmatmul";
            c.dims = suite->reduced(b);
            c.dtype = s.x_dtype;
            c.seed = s.seed;
            c.options = {{"layout", 1.0}, {"scale_f16", s.scale_dtype == ENGRAM_DTYPE_F16 ? 1.0 : 0.0}};
            if (std::find(validated.begin(), validated.end(), c.label()) != validated.end())
                continue;  // shapes that reduce alike are checked once
            const engram_suite::Outcome o = suite->run(ctx, c);
            std::printf("validated %s: %s (worst |err|/bound %.3g)\n", c.label().c_str(),
                        o.passed ? "ok" : "FAILED", o.worst_ratio);
            validated.push_back(c.label());
            if (!o.passed) error += (error.empty() ? "" : "\n") + c.label() + ": " + o.error;
        }
    if (!s.bitstack_planes.empty()) {
        const int pmax = *std::max_element(s.bitstack_planes.begin(), s.bitstack_planes.end());
        for (const engram_suite::Dims& shape : s.shapes) {
            engram_suite::Dims b = shape;
            b["m"] = 1;
            engram_suite::Case c;
            c.op = "qmatmul_bitstack";
            c.dims = suite->reduced(b);
            c.dims.erase("g");
            c.dtype = s.x_dtype;
            c.seed = s.seed;
            c.options = {{"planes", double(pmax)}, {"p", double(pmax)}};
            if (std::find(validated.begin(), validated.end(), c.label()) != validated.end()) continue;
            const engram_suite::Outcome o = suite->run(ctx, c);
            std::printf("validated %s: %s (worst |err|/bound %.3g)\n", c.label().c_str(),
                        o.passed ? "ok" : "FAILED", o.worst_ratio);
            validated.push_back(c.label());
            if (!o.passed) error += (error.empty() ? "" : "\n") + c.label() + ": " + o.error;
        }
    }
    const RuntimeBlas& blas = runtime_blas();
    std::string blas_text = blas.name;
    if (blas.sgemm) blas_text += blas.sbgemm ? " (cblas_sbgemm: yes)" : " (no cblas_sbgemm: no bf16 baseline)";
    auto write_json = [&](const std::vector<QCase>& cases, double rbw, double tbw, int64_t llc) {
        if (s.json_path.empty()) return true;
        const std::string tmp = s.json_path + ".partial";
        {
            std::ofstream f(tmp);
            f << json_of(s, cases, rbw, tbw, llc, blas_text, validated, error) << "\n";
            if (!f) return false;
        }
        return std::rename(tmp.c_str(), s.json_path.c_str()) == 0;
    };
    if (!error.empty()) {
        std::fprintf(stderr, "engram-bench: wrong results, nothing timed:\n%s\n", error.c_str());
        write_json({}, 0, 0, 0);
        return 1;
    }

    // 2. The machine's limits, in the same process.
    const int64_t llc = llc_bytes();
    double read_gbs = 0.0, triad_gbs = 0.0;
    if (s.probes) {
        std::printf("probing read bandwidth (sum of 1 GiB, all cores, best of 5) ...\n");
        std::fflush(stdout);
        read_gbs = read_bandwidth_gbs(5);
        triad_gbs = bandwidth_probe_gbs(3);
        std::printf("read bandwidth %.2f GB/s (stream triad %.2f GB/s); last-level cache %s\n", read_gbs, triad_gbs,
                    llc ? (std::to_string(llc >> 20) + " MiB").c_str() : "unknown (sysfs)");
    }
    std::printf("BLAS: %s\n", blas_text.c_str());

    // 3. The cases.
    std::vector<QCase> cases;
    int status = 0;
    try {
        for (const engram_suite::Dims& shape : s.shapes) {
            const int64_t n = shape.at("n"), k = shape.at("k"), g = shape.at("g");
            std::printf("shape n=%lld k=%lld g=%lld:\n", (long long)n, (long long)k, (long long)g);
            const QMatrices probe_one = make_qmatrices(1, n, k, g, s.scale_dtype, s.seed);
            const int64_t rot = rotation_count(probe_one.bytes_each, s.dram_mib);
            const QMatrices q = make_qmatrices(rot, n, k, g, s.scale_dtype, s.seed);
            const int64_t max_m = *std::max_element(s.ms.begin(), s.ms.end());
            const std::vector<uint8_t> x = activations(max_m, k, s.x_dtype, s.seed + 1);
            std::vector<float> y(static_cast<size_t>(max_m * n));
            for (int64_t m : s.ms) {
                const bool large = m > 16;
                for (const char* where : {"cache", "dram"}) {
                    const bool dram = std::string(where) == "dram";
                    // Large m is compute bound: one matrix, one call per rep.
                    if (large && dram) continue;
                    QCase c;
                    c.impl = "engram";
                    c.variant = std::string("w2 prepared ") + (s.scale_dtype == ENGRAM_DTYPE_F16 ? "s16" : "s32");
                    c.where = where;
                    c.m = m;
                    c.n = n;
                    c.k = k;
                    c.g = g;
                    c.weight_bytes = q.bytes_each;
                    c.matrices = dram ? rot : 1;
                    c.working_set = q.bytes_each * double(c.matrices);
                    const int64_t calls = large ? 1 : rot;
                    c.timing = time_calls(s.warmup, s.reps, c.matrices, calls, [&](int64_t i) {
                        check(engram_qmatmul(ctx, &q.w[size_t(i)], m, s.x_dtype, x.data(),
                                             ENGRAM_DTYPE_F32, y.data()),
                              "engram_qmatmul");
                    });
                    if (large) c.notes = "dequantise-tile GEMM (compute bound; cache-resident run only)";
                    print(c);
                    cases.push_back(c);
                    write_json(cases, read_gbs, triad_gbs, llc);
                }
            }
            if (!s.bitstack_planes.empty()) time_bitstack(s, ctx, n, k, cases, [&] { write_json(cases, read_gbs, triad_gbs, llc); });
            if (!s.baselines || !blas.sgemm) continue;
            // f32 (and bf16) weights through the BLAS, same shapes.
            const double f32_bytes = double(n) * double(k) * 4.0;
            const int64_t frot = rotation_count(f32_bytes, s.dram_mib);
            std::vector<std::vector<float>> wf(static_cast<size_t>(frot));
            Filler f(s.seed + 9);
            for (auto& w : wf) {
                w.resize(static_cast<size_t>(n * k));
                for (float& v : w) v = f.uniform(-1.0f, 1.0f);
            }
            std::vector<float> xf(static_cast<size_t>(max_m * k));
            for (float& v : xf) v = f.uniform(-1.0f, 1.0f);
            for (int64_t m : s.ms) {
                const bool large = m > 16;
                for (const char* where : {"cache", "dram"}) {
                    const bool dram = std::string(where) == "dram";
                    if (large && dram) continue;
                    QCase c;
                    c.impl = "blas";
                    c.variant = m == 1 && blas.sgemv ? "f32 sgemv" : "f32 sgemm";
                    c.where = where;
                    c.m = m;
                    c.n = n;
                    c.k = k;
                    c.g = 0;
                    c.weight_bytes = f32_bytes;
                    c.matrices = dram ? frot : 1;
                    c.working_set = f32_bytes * double(c.matrices);
                    const int64_t calls = large ? 1 : frot;
                    const int reps = large ? 1 : s.reps, warmup = large ? 0 : s.warmup;
                    c.timing = time_calls(warmup, reps, c.matrices, calls, [&](int64_t i) {
                        const float* w = wf[size_t(i)].data();
                        if (m == 1 && blas.sgemv)
                            blas.sgemv(kCblasRowMajor, kCblasNoTrans, int(n), int(k), 1.0f, w, int(k),
                                       xf.data(), 1, 0.0f, y.data(), 1);
                        else
                            blas.sgemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, int(m), int(n), int(k),
                                       1.0f, xf.data(), int(k), w, int(k), 0.0f, y.data(), int(n));
                    });
                    c.notes = blas.name + (large ? "; one call (slow BLAS)" : "");
                    print(c);
                    cases.push_back(c);
                    write_json(cases, read_gbs, triad_gbs, llc);
                }
            }
            if (!blas.sbgemm)
                std::printf("  (bf16 weights: %s has no cblas_sbgemm; no bf16 baseline)\n", blas.name.c_str());
            // (With cblas_sbgemm present, a bf16 baseline would go here; the
            // machines this was written on have none to test it with.)
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "engram-bench: %s\n", e.what());
        error = e.what();
        status = 1;
    }

    // 4. The ratios, from this run.
    std::printf("summary (ratios from this run):\n");
    for (const engram_suite::Dims& shape : s.shapes) {
        const int64_t n = shape.at("n"), k = shape.at("k");
        for (int64_t m : s.ms) {
            for (const char* where : {"cache", "dram"}) {
                const QCase* e = find(cases, "engram", n, k, m, where, "w2");
                const QCase* b = find(cases, "blas", n, k, m, where, "f32");
                if (!e) continue;
                std::printf("  n=%lld k=%lld m=%lld %-5s engram %.3f ms", (long long)n, (long long)k,
                            (long long)m, where, e->ms());
                if (std::string(where) == "dram" && read_gbs > 0)
                    std::printf(", %.0f%% of read bandwidth", 100.0 * e->gbs() / read_gbs);
                if (b) std::printf(", %.2fx %s", b->ms() / e->ms(), b->variant.c_str());
                std::printf("\n");
            }
        }
    }
    for (const engram_suite::Dims& shape : s.shapes) {
        const int64_t n = shape.at("n"), k = shape.at("k");
        const QCase* one = find(cases, "engram", n, k, 1, "dram", "bitstack p=1");
        for (int p : s.bitstack_planes) {
            const QCase* c = find(cases, "engram", n, k, 1, "dram", "bitstack p=" + std::to_string(p));
            if (!c || !one) continue;
            std::printf("  n=%lld k=%lld bitstack p=%d dram %.3f ms = %.2f x (p x one plane)", (long long)n,
                        (long long)k, p, c->ms(), c->ms() / (double(p) * one->ms()));
            if (read_gbs > 0) std::printf(", planes read at %.0f%% of read bandwidth", 100.0 * c->gbs() / read_gbs);
            std::printf("\n");
        }
    }
    std::printf("ONNX Runtime MatMulNBits peer: not run (no libonnxruntime on this machine; see docs/qmatmul.md)\n");
    if (!write_json(status == 0 ? cases : std::vector<QCase>{}, read_gbs, triad_gbs, llc)) {
        std::fprintf(stderr, "engram-bench: cannot write %s\n", s.json_path.c_str());
        return 1;
    }
    if (!s.json_path.empty()) std::printf("wrote %s\n", s.json_path.c_str());
    return status;
}

}  // namespace engram_bench
