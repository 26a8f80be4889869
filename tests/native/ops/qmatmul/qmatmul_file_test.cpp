// qmatmul_file_test.cpp — the quantized-matrix file (engram_qmatmul_save /
// _file_info / _load): bit-exact round trips for every layout and scale dtype
// (NaN payloads included), atomic replacement, and every damaged or
// mismatched file rejected with a clear message and nothing written.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <array>
#include <cstring>
#include <fstream>
#include <iterator>

#include "ops/qmatmul/qmatmul_harness.hpp"
#include "test_util.hpp"

namespace engram_test {
namespace {

// A fresh directory under /tmp, removed (with its files) at the end.
class TempDir {
public:
    TempDir() {
        char pattern[] = "/tmp/engram-qfile-XXXXXX";
        const char* d = mkdtemp(pattern);
        if (d) path_ = d;
    }
    ~TempDir() {
        for (const std::string& f : files()) std::remove((path_ + "/" + f).c_str());
        rmdir(path_.c_str());
    }
    std::string file(const char* name) const { return path_ + "/" + name; }
    std::vector<std::string> files() const {
        std::vector<std::string> out;
        if (DIR* d = opendir(path_.c_str())) {
            while (dirent* e = readdir(d))
                if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
                    out.push_back(e->d_name);
            closedir(d);
        }
        return out;
    }

private:
    std::string path_;
};

std::vector<unsigned char> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

struct Ctx {
    engram_context* c = nullptr;
    Ctx() { engram_context_create(ENGRAM_BACKEND_CPU, 0, &c); }
    ~Ctx() { engram_context_destroy(c); }
};

// Buffers to load into, pre-filled with 0xAB so "untouched" is checkable.
struct Outputs {
    std::vector<uint32_t> codes;
    std::vector<uint8_t> scales, zeros;
    Outputs(const QData& d) {
        codes.assign(d.words.size(), 0xABABABABu);
        scales.assign(d.scales_raw.size(), 0xAB);
        zeros.assign(d.zeros_raw.size(), 0xAB);
    }
    bool untouched() const {
        for (uint32_t w : codes) if (w != 0xABABABABu) return false;
        for (uint8_t b : scales) if (b != 0xAB) return false;
        for (uint8_t b : zeros) if (b != 0xAB) return false;
        return true;
    }
};

engram_status load(engram_context* c, const std::string& path, const QData& d, Outputs& o) {
    return engram_qmatmul_load(c, path.c_str(), d.spec.n_out, d.spec.k, int32_t(d.spec.group),
                               d.spec.scale_dtype, d.spec.layout, o.codes.data(), o.codes.size(),
                               o.scales.data(), o.zeros.data());
}

QData sample(engram_qlayout layout, engram_dtype sd, int64_t n = 5, int64_t k = 96, int64_t g = 32) {
    QSpec s;
    s.n_out = n;
    s.k = k;
    s.group = g;
    s.layout = layout;
    s.scale_dtype = sd;
    s.m = 3;
    s.seed = 17 + uint64_t(n * k);
    QData d = make_qdata(s);
    // A NaN with a payload in the scales: the file keeps bits, not values.
    if (sd == ENGRAM_DTYPE_F32) {
        const uint32_t nan = 0x7FC01234u;
        std::memcpy(d.scales_raw.data(), &nan, 4);
    } else {
        const uint16_t nan = 0x7E01u;
        std::memcpy(d.scales_raw.data(), &nan, 2);
    }
    return d;
}

TEST(QmatmulFile, RoundTripIsBitExactForEveryLayoutAndScaleDtype) {
    Ctx ctx;
    TempDir dir;
    for (engram_qlayout layout : {ENGRAM_QLAYOUT_PLAIN, ENGRAM_QLAYOUT_CPU_PREPARED})
        for (engram_dtype sd : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16})
            for (const auto& shape : std::vector<std::array<int64_t, 3>>{{1, 32, 32}, {5, 96, 32}, {7, 256, 128}, {3, 192, 64}}) {
                const QData d = sample(layout, sd, shape[0], shape[1], shape[2]);
                const std::string path = dir.file("w.eqm");
                const engram_qweight w = d.qweight();
                ASSERT_OK(engram_qmatmul_save(ctx.c, &w, path.c_str()));
                engram_qweight info;
                engram_qweight_init(&info);
                ASSERT_OK(engram_qmatmul_file_info(ctx.c, path.c_str(), &info));
                EXPECT_EQ(d.spec.n_out, info.n_out);
                EXPECT_EQ(d.spec.k, info.k);
                EXPECT_EQ(d.spec.group, info.group_size);
                EXPECT_EQ(int(sd), info.scale_dtype);
                EXPECT_EQ(int(layout), info.layout);
                EXPECT_EQ(d.words.size(), info.code_words);
                EXPECT_EQ(nullptr, info.codes);
                EXPECT_EQ(size_t(64 + d.words.size() * 4 + 2 * d.scales_raw.size()), read_bytes(path).size());
                Outputs o(d);
                ASSERT_OK(load(ctx.c, path, d, o));
                EXPECT_EQ(d.words, o.codes) << d.spec.label();
                EXPECT_EQ(d.scales_raw, o.scales) << d.spec.label();
                EXPECT_EQ(d.zeros_raw, o.zeros) << d.spec.label();
                EXPECT_EQ(std::vector<std::string>{"w.eqm"}, dir.files());  // no temporary left
            }
}

// The header's bytes are the documented ones (engram_qmatmul.h), and the
// checksum is zlib's CRC-32 of the header (checksum zero) and payload.
TEST(QmatmulFile, HeaderMatchesTheDocumentedLayout) {
    Ctx ctx;
    TempDir dir;
    const QData d = sample(ENGRAM_QLAYOUT_CPU_PREPARED, ENGRAM_DTYPE_F16, 5, 96, 32);
    const engram_qweight w = d.qweight();
    const std::string path = dir.file("w.eqm");
    ASSERT_OK(engram_qmatmul_save(ctx.c, &w, path.c_str()));
    const std::vector<unsigned char> f = read_bytes(path);
    ASSERT_GE(f.size(), 64u);
    auto u32 = [&](size_t at) { uint32_t v = 0; for (int i = 0; i < 4; ++i) v |= uint32_t(f[at + i]) << (8 * i); return v; };
    auto u64 = [&](size_t at) { uint64_t v = 0; for (int i = 0; i < 8; ++i) v |= uint64_t(f[at + i]) << (8 * i); return v; };
    EXPECT_EQ(0, std::memcmp(f.data(), "ENGRAMQ2", 8));
    EXPECT_EQ(1u, u32(8));
    EXPECT_EQ(64u, u32(12));
    EXPECT_EQ(5u, u64(16));
    EXPECT_EQ(96u, u64(24));
    EXPECT_EQ(32u, u32(32));
    EXPECT_EQ(uint32_t(ENGRAM_DTYPE_U2), u32(36));
    EXPECT_EQ(uint32_t(ENGRAM_DTYPE_F16), u32(40));
    EXPECT_EQ(uint32_t(ENGRAM_QLAYOUT_CPU_PREPARED), u32(44));
    EXPECT_EQ(f.size() - 64, u64(48));
    EXPECT_EQ(0u, u32(60));
    // CRC-32 written out bit by bit (independent of the library's table).
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t at = 0; at < f.size(); ++at) {
        crc ^= at >= 56 && at < 60 ? 0u : f[at];  // the checksum field counts as zero
        for (int i = 0; i < 8; ++i) crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    EXPECT_EQ(~crc, u32(56));
    // Payload: codes, scales, zeros as in memory.
    EXPECT_EQ(0, std::memcmp(f.data() + 64, d.words.data(), d.words.size() * 4));
    EXPECT_EQ(0, std::memcmp(f.data() + 64 + d.words.size() * 4, d.scales_raw.data(), d.scales_raw.size()));
}

TEST(QmatmulFile, SaveReplacesAtomicallyAndLeavesTheTargetOnFailure) {
    Ctx ctx;
    TempDir dir;
    const std::string path = dir.file("w.eqm");
    const QData a = sample(ENGRAM_QLAYOUT_PLAIN, ENGRAM_DTYPE_F32, 5, 96, 32);
    const QData b = sample(ENGRAM_QLAYOUT_PLAIN, ENGRAM_DTYPE_F32, 3, 64, 32);
    const engram_qweight wa = a.qweight(), wb = b.qweight();
    ASSERT_OK(engram_qmatmul_save(ctx.c, &wa, path.c_str()));
    const std::vector<unsigned char> first = read_bytes(path);
    ASSERT_OK(engram_qmatmul_save(ctx.c, &wb, path.c_str()));
    Outputs o(b);
    ASSERT_OK(load(ctx.c, path, b, o));
    EXPECT_EQ(b.words, o.codes);
    EXPECT_EQ(std::vector<std::string>{"w.eqm"}, dir.files());
    // A weight the library rejects writes nothing, and the old file stays.
    engram_qweight bad = wa;
    bad.k = 80;  // not a multiple of G = 32
    const std::vector<unsigned char> before = read_bytes(path);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_save(ctx.c, &bad, path.c_str()), "w->k");
    EXPECT_EQ(before, read_bytes(path));
    EXPECT_EQ(std::vector<std::string>{"w.eqm"}, dir.files());
    // An unwritable place: a clear error naming the path, no file made.
    const std::string nowhere = dir.file("no-such-dir/w.eqm");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_save(ctx.c, &wa, nowhere.c_str()),
                  "path", "no-such-dir", "temporary file");
    EXPECT_EQ(std::vector<std::string>{"w.eqm"}, dir.files());
    (void)first;
}

TEST(QmatmulFile, TruncatedFilesAreRejectedWithNothingWritten) {
    Ctx ctx;
    TempDir dir;
    const QData d = sample(ENGRAM_QLAYOUT_PLAIN, ENGRAM_DTYPE_F16, 3, 64, 32);
    const engram_qweight w = d.qweight();
    const std::string good = dir.file("good.eqm"), cut = dir.file("cut.eqm");
    ASSERT_OK(engram_qmatmul_save(ctx.c, &w, good.c_str()));
    const std::vector<unsigned char> f = read_bytes(good);
    for (size_t len = 0; len < f.size(); ++len) {
        write_bytes(cut, std::vector<unsigned char>(f.begin(), f.begin() + long(len)));
        Outputs o(d);
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, load(ctx.c, cut, d, o), "cut.eqm", "truncated");
        EXPECT_TRUE(o.untouched()) << "length " << len;
        engram_qweight info;
        engram_qweight_init(&info);
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_file_info(ctx.c, cut.c_str(), &info),
                      "truncated");
    }
    // Trailing bytes are no better.
    std::vector<unsigned char> longer = f;
    longer.push_back(0);
    write_bytes(cut, longer);
    Outputs o(d);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, load(ctx.c, cut, d, o), "trailing bytes");
    EXPECT_TRUE(o.untouched());
}

// Every single-bit flip anywhere in the file is caught (CRC-32 detects all
// of them): by the header's checks or by the checksum; a changed version
// is "unsupported".
TEST(QmatmulFile, EveryBitFlipIsRejectedWithNothingWritten) {
    Ctx ctx;
    TempDir dir;
    const QData d = sample(ENGRAM_QLAYOUT_CPU_PREPARED, ENGRAM_DTYPE_F32, 3, 64, 32);
    const engram_qweight w = d.qweight();
    const std::string good = dir.file("good.eqm"), bad = dir.file("bad.eqm");
    ASSERT_OK(engram_qmatmul_save(ctx.c, &w, good.c_str()));
    const std::vector<unsigned char> f = read_bytes(good);
    for (size_t i = 0; i < f.size(); ++i)
        for (int bit = 0; bit < 8; ++bit) {
            std::vector<unsigned char> g = f;
            g[i] ^= (unsigned char)(1u << bit);
            write_bytes(bad, g);
            Outputs o(d);
            const engram_status st = load(ctx.c, bad, d, o);
            const std::string msg = engram_last_error();
            if (i >= 8 && i < 12)
                EXPECT_EQ(ENGRAM_ERR_UNSUPPORTED, st) << "byte " << i << " bit " << bit << ": " << msg;
            else
                EXPECT_EQ(ENGRAM_ERR_INVALID_ARGUMENT, st) << "byte " << i << " bit " << bit << ": " << msg;
            EXPECT_NE(std::string::npos, msg.find("bad.eqm")) << msg;
            EXPECT_TRUE(o.untouched()) << "byte " << i << " bit " << bit;
        }
    // A checksum mismatch says so.
    std::vector<unsigned char> g = f;
    g[f.size() - 1] ^= 0x10;
    write_bytes(bad, g);
    Outputs o(d);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, load(ctx.c, bad, d, o), "corrupted", "checksum");
    // So does a wrong magic.
    g = f;
    g[0] = 'X';
    write_bytes(bad, g);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, load(ctx.c, bad, d, o), "magic");
    EXPECT_TRUE(o.untouched());
}

TEST(QmatmulFile, MismatchedHeadersAreRejectedNamingTheField) {
    Ctx ctx;
    TempDir dir;
    const QData d = sample(ENGRAM_QLAYOUT_PLAIN, ENGRAM_DTYPE_F32, 4, 128, 64);
    const engram_qweight w = d.qweight();
    const std::string path = dir.file("w.eqm");
    ASSERT_OK(engram_qmatmul_save(ctx.c, &w, path.c_str()));
    Outputs o(d);
    // Buffers big enough for any of the asked-for shapes below.
    std::vector<uint32_t> codes(4096, 0xABABABABu);
    std::vector<uint8_t> s(4096, 0xAB), z(4096, 0xAB);
    auto ask = [&](int64_t n, int64_t k, int32_t g, engram_dtype sd, engram_qlayout lay) {
        uint64_t words = 0;
        engram_qmatmul_code_words(n, k, lay, &words);
        return engram_qmatmul_load(ctx.c, path.c_str(), n, k, g, sd, lay, codes.data(), words, s.data(), z.data());
    };
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, ask(5, 128, 64, ENGRAM_DTYPE_F32, ENGRAM_QLAYOUT_PLAIN), "n_out is 4", "n_out = 5");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, ask(4, 192, 64, ENGRAM_DTYPE_F32, ENGRAM_QLAYOUT_PLAIN), "k is 128");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, ask(4, 128, 32, ENGRAM_DTYPE_F32, ENGRAM_QLAYOUT_PLAIN), "group_size is 64");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, ask(4, 128, 64, ENGRAM_DTYPE_F16, ENGRAM_QLAYOUT_PLAIN), "scale_dtype");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, ask(4, 128, 64, ENGRAM_DTYPE_F32, ENGRAM_QLAYOUT_CPU_PREPARED), "layout");
    for (uint32_t v : codes) ASSERT_EQ(0xABABABABu, v);
    for (uint8_t v : s) ASSERT_EQ(0xAB, v);
    for (uint8_t v : z) ASSERT_EQ(0xAB, v);
}

TEST(QmatmulFile, BadArgumentsAreRejected) {
    Ctx ctx;
    TempDir dir;
    const QData d = sample(ENGRAM_QLAYOUT_PLAIN, ENGRAM_DTYPE_F32, 4, 128, 64);
    const engram_qweight w = d.qweight();
    const std::string path = dir.file("w.eqm");
    ASSERT_OK(engram_qmatmul_save(ctx.c, &w, path.c_str()));
    Outputs o(d);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_save(ctx.c, &w, nullptr), "path");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_save(ctx.c, &w, ""), "path is empty");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_save(nullptr, &w, path.c_str()), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_save(ctx.c, nullptr, path.c_str()), "w");
    engram_qweight info;
    engram_qweight_init(&info);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_file_info(ctx.c, path.c_str(), nullptr), "info");
    info.struct_size = 8;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_file_info(ctx.c, path.c_str(), &info), "struct_size");
    engram_qweight_init(&info);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_file_info(ctx.c, dir.file("missing.eqm").c_str(), &info), "missing.eqm", "cannot open");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_file_info(ctx.c, "/tmp", &info), "not a regular file");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_load(ctx.c, path.c_str(), 4, 128, 64, ENGRAM_DTYPE_F32, ENGRAM_QLAYOUT_PLAIN,
                                      nullptr, o.codes.size(), o.scales.data(), o.zeros.data()), "codes");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_load(ctx.c, path.c_str(), 4, 128, 64, ENGRAM_DTYPE_F32, ENGRAM_QLAYOUT_PLAIN,
                                      o.codes.data(), o.codes.size() - 1, o.scales.data(), o.zeros.data()),
                  "code_words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_load(ctx.c, path.c_str(), 4, 96, 64, ENGRAM_DTYPE_F32, ENGRAM_QLAYOUT_PLAIN,
                                      o.codes.data(), o.codes.size(), o.scales.data(), o.zeros.data()),
                  "k = 96");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_load(ctx.c, path.c_str(), 4, 128, 64, ENGRAM_DTYPE_F32, ENGRAM_QLAYOUT_PLAIN,
                                      o.codes.data(), o.codes.size(), o.scales.data(), o.scales.data()),
                  "overlap");
    EXPECT_TRUE(o.untouched());
    // Registered ops, U2 as their dtype.
    for (int op : {ENGRAM_OP_QMATMUL_SAVE, ENGRAM_OP_QMATMUL_FILE_INFO, ENGRAM_OP_QMATMUL_LOAD}) {
        EXPECT_STREQ("qmatmul", engram_op_family(engram_op(op)));
        EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, engram_op(op), ENGRAM_DTYPE_U2));
    }
    EXPECT_STREQ("qmatmul_save", engram_op_name(engram_op(ENGRAM_OP_QMATMUL_SAVE)));
}

// A loaded matrix multiplies bit-identically to the saved one.
TEST(QmatmulFile, LoadedMatrixMultipliesIdentically) {
    Ctx ctx;
    TempDir dir;
    QSpec s;
    s.n_out = 9;
    s.k = 256;
    s.group = 128;
    s.m = 4;
    s.layout = ENGRAM_QLAYOUT_CPU_PREPARED;
    s.scale_dtype = ENGRAM_DTYPE_F16;
    QData d = make_qdata(s);
    const engram_qweight w = d.qweight();
    const std::string path = dir.file("w.eqm");
    ASSERT_OK(engram_qmatmul_save(ctx.c, &w, path.c_str()));
    const std::vector<float> before = run_qmatmul(d);
    Outputs o(d);
    ASSERT_OK(load(ctx.c, path, d, o));
    d.words = o.codes;
    d.scales_raw = o.scales;
    d.zeros_raw = o.zeros;
    const std::vector<float> after = run_qmatmul(d);
    ASSERT_EQ(before.size(), after.size());
    EXPECT_EQ(0, std::memcmp(before.data(), after.data(), before.size() * 4));
}

}  // namespace
}  // namespace engram_test
