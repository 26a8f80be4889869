// qmatmul_file_api.cpp — saving and loading one quantized matrix
// (engram_qmatmul_save / _file_info / _load; format in qmatmul_file.hpp and
// engram_qmatmul.h). Saving writes a temporary file beside the target, syncs
// it and renames it over the target, so a reader sees the old file or the
// whole new one. Loading reads the whole file into scratch memory and checks
// header, length and checksum before the first output byte is written.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/qmatmul/qmatmul_checks.hpp"
#include "ops/qmatmul/qmatmul_file.hpp"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the quantized-matrix file stores its arrays little-endian, as in memory on this host"
#endif

using namespace engram;

namespace {

void require_path(const char* path) {
    require_not_null(path, "path");
    if (!*path) fail(ENGRAM_ERR_INVALID_ARGUMENT, "path is empty");
}

std::string errno_text() { return std::strerror(errno); }

// Closes a descriptor and, unless released, unlinks the temporary file.
struct TempFile {
    int fd = -1;
    std::string name;
    bool keep = false;
    ~TempFile() {
        if (fd >= 0) ::close(fd);
        if (!keep && !name.empty()) ::unlink(name.c_str());
    }
};

void write_all(int fd, const void* data, uint64_t bytes, const char* path) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    while (bytes > 0) {
        const size_t chunk = size_t(bytes < (uint64_t(1) << 30) ? bytes : (uint64_t(1) << 30));
        const ssize_t n = ::write(fd, p, chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("path = \"%s\": writing failed: %s", path, errno_text().c_str()));
        p += n;
        bytes -= uint64_t(n);
    }
}

// The file's header, after every field has been checked (shape, dtypes,
// layout, lengths); `file_bytes` is the file's size (the header is its first
// min(64, file_bytes) bytes).
QFileHeader checked_header(const unsigned char* bytes, uint64_t file_bytes, const char* path) {
    if (file_bytes < kQFileHeaderBytes)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\": truncated: %llu bytes, the header alone is %u", path,
                    (unsigned long long)file_bytes, kQFileHeaderBytes));
    QFileHeader h;
    if (!qfile_decode(bytes, h))
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\": not an engram quantized-matrix file (magic is not ENGRAMQ2)", path));
    if (h.version != kQFileVersion)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("path = \"%s\": file version %u, this library reads version %u", path, h.version,
                    kQFileVersion));
    auto bad = [&](const std::string& what) {
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\": corrupted header: %s", path, what.c_str()));
    };
    if (h.header_bytes != kQFileHeaderBytes) bad(format("header_bytes = %u, expected 64", h.header_bytes));
    if (h.reserved != 0) bad(format("reserved = %u, expected 0", h.reserved));
    if (h.code_dtype != ENGRAM_DTYPE_U2) bad(format("code_dtype = %d, expected U2", h.code_dtype));
    if (h.scale_dtype != ENGRAM_DTYPE_F32 && h.scale_dtype != ENGRAM_DTYPE_F16)
        bad(format("scale_dtype = %d, expected F32 or F16", h.scale_dtype));
    if (h.layout != ENGRAM_QLAYOUT_PLAIN && h.layout != ENGRAM_QLAYOUT_CPU_PREPARED)
        bad(format("layout = %d", h.layout));
    if (h.n_out < 1 || h.n_out > INT32_MAX || h.k < 1 || h.k > INT32_MAX)
        bad(format("n_out = %lld, k = %lld", (long long)h.n_out, (long long)h.k));
    if ((h.group_size != 32 && h.group_size != 64 && h.group_size != 128) || h.k % h.group_size != 0)
        bad(format("group_size = %d with k = %lld", h.group_size, (long long)h.k));
    const uint64_t words = qmatmul_code_words(h.n_out, h.k, engram_qlayout(h.layout));
    const uint64_t sbytes = uint64_t(h.n_out) * uint64_t(h.k / h.group_size) *
                            engram_dtype_size(engram_dtype(h.scale_dtype));
    const uint64_t payload = words * 4 + 2 * sbytes;
    if (h.payload_bytes != payload)
        bad(format("payload_bytes = %llu, but the shape needs %llu",
                   (unsigned long long)h.payload_bytes, (unsigned long long)payload));
    if (file_bytes < kQFileHeaderBytes + payload)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\": truncated: %llu bytes, the header says %llu", path,
                    (unsigned long long)file_bytes, (unsigned long long)(kQFileHeaderBytes + payload)));
    if (file_bytes > kQFileHeaderBytes + payload)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\": %llu bytes, the header says %llu (trailing bytes)", path,
                    (unsigned long long)file_bytes, (unsigned long long)(kQFileHeaderBytes + payload)));
    return h;
}

uint32_t file_checksum(const unsigned char* header, const unsigned char* payload, uint64_t payload_bytes) {
    unsigned char h[kQFileHeaderBytes];
    std::memcpy(h, header, kQFileHeaderBytes);
    std::memset(h + kQFileChecksumAt, 0, 4);
    return crc32_update(crc32_update(0, h, kQFileHeaderBytes), payload, size_t(payload_bytes));
}

void read_exact(int fd, void* out, uint64_t bytes, uint64_t offset, uint64_t file_bytes,
                const char* path) {
    unsigned char* p = static_cast<unsigned char*>(out);
    uint64_t got = 0;
    while (got < bytes) {
        const uint64_t left = bytes - got;
        const ssize_t n = ::read(fd, p + got, size_t(left < (uint64_t(1) << 30) ? left : (uint64_t(1) << 30)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("path = \"%s\": reading failed: %s", path, errno_text().c_str()));
        if (n == 0)  // the file shrank while it was read
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("path = \"%s\": truncated: ended at byte %llu of %llu", path,
                        (unsigned long long)(offset + got), (unsigned long long)file_bytes));
        got += uint64_t(n);
    }
}

// Reads and checks a file: the header first (so a damaged length is rejected
// before anything of the file's size is allocated), then the payload into
// `payload`, then the checksum over both. Returns the header of a sound file.
QFileHeader read_checked(engram_context& c, const char* path, HostScratch& payload) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\": cannot open: %s", path, errno_text().c_str()));
    TempFile guard;  // closes fd (nothing to unlink)
    guard.fd = fd;
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        fail(ENGRAM_ERR_INVALID_ARGUMENT, format("path = \"%s\": not a regular file", path));
    const uint64_t file_bytes = uint64_t(st.st_size);
    unsigned char header[kQFileHeaderBytes] = {};
    read_exact(fd, header, file_bytes < kQFileHeaderBytes ? file_bytes : kQFileHeaderBytes, 0,
               file_bytes, path);
    const QFileHeader h = checked_header(header, file_bytes, path);
    payload = HostScratch(c, h.payload_bytes);
    read_exact(fd, payload.as<unsigned char>(), h.payload_bytes, kQFileHeaderBytes, file_bytes, path);
    const uint32_t crc = file_checksum(header, payload.as<unsigned char>(), h.payload_bytes);
    if (crc != h.checksum)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("path = \"%s\": corrupted: checksum 0x%08x, the header says 0x%08x", path, crc,
                    h.checksum));
    return h;
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_qmatmul_save(engram_context* ctx, const engram_qweight* w,
                                             const char* path) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_SAVE, ctx, [&](engram_context& c) {
        qmatmul_backend_of(c);
        std::vector<TensorSpan> spans;
        const QWeight q = qmatmul_validate_weight(c, w, spans);
        require_path(path);
        const uint64_t words = qmatmul_code_words(q.n_out, q.k, q.layout);
        const uint64_t sbytes = uint64_t(q.n_out) * uint64_t(q.groups_per_row()) *
                                engram_dtype_size(q.scale_dtype);
        QFileHeader h;
        h.n_out = q.n_out;
        h.k = q.k;
        h.group_size = int32_t(q.group);
        h.scale_dtype = q.scale_dtype;
        h.layout = q.layout;
        h.payload_bytes = words * 4 + 2 * sbytes;
        unsigned char header[kQFileHeaderBytes];
        qfile_encode(h, header);
        uint32_t crc = crc32_update(0, header, kQFileHeaderBytes);
        crc = crc32_update(crc, q.codes, size_t(words * 4));
        crc = crc32_update(crc, q.scales, size_t(sbytes));
        crc = crc32_update(crc, q.zeros, size_t(sbytes));
        h.checksum = crc;
        qfile_encode(h, header);

        TempFile tmp;
        std::string pattern = std::string(path) + ".tmp-XXXXXX";
        tmp.fd = ::mkstemp(&pattern[0]);
        if (tmp.fd < 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("path = \"%s\": cannot create a temporary file beside it: %s", path,
                        errno_text().c_str()));
        tmp.name = pattern;
        ::fchmod(tmp.fd, 0644);
        write_all(tmp.fd, header, kQFileHeaderBytes, path);
        write_all(tmp.fd, q.codes, words * 4, path);
        write_all(tmp.fd, q.scales, sbytes, path);
        write_all(tmp.fd, q.zeros, sbytes, path);
        if (::fsync(tmp.fd) != 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("path = \"%s\": fsync failed: %s", path, errno_text().c_str()));
        const int fd = tmp.fd;
        tmp.fd = -1;
        if (::close(fd) != 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("path = \"%s\": close failed: %s", path, errno_text().c_str()));
        if (::rename(tmp.name.c_str(), path) != 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("path = \"%s\": rename of the temporary file failed: %s", path,
                        errno_text().c_str()));
        tmp.keep = true;
    });
}

ENGRAM_API engram_status engram_qmatmul_file_info(engram_context* ctx, const char* path,
                                                  engram_qweight* info) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_FILE_INFO, ctx, [&](engram_context& c) {
        qmatmul_backend_of(c);
        require_path(path);
        require_not_null(info, "info");
        require_struct_size(info->struct_size, sizeof *info, "info", "engram_qweight_init");
        HostScratch payload;
        const QFileHeader h = read_checked(c, path, payload);
        engram_qweight_init(info);
        info->scale_dtype = h.scale_dtype;
        info->group_size = h.group_size;
        info->layout = h.layout;
        info->n_out = h.n_out;
        info->k = h.k;
        info->code_words = qmatmul_code_words(h.n_out, h.k, engram_qlayout(h.layout));
    });
}

ENGRAM_API engram_status engram_qmatmul_load(engram_context* ctx, const char* path, int64_t n_out,
                                             int64_t k, int32_t group_size,
                                             engram_dtype scale_dtype, engram_qlayout layout,
                                             uint32_t* codes, uint64_t code_words, void* scales,
                                             void* zeros) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_LOAD, ctx, [&](engram_context& c) {
        qmatmul_backend_of(c);
        require_path(path);
        require_dim(n_out, "n_out");
        require_dim(k, "k");
        qmatmul_require_group(group_size, k, "group_size", "k");
        qmatmul_require_scale_dtype(scale_dtype, "scale_dtype");
        const engram_qlayout lay = qmatmul_require_layout(layout, "layout");
        const uint64_t words = qmatmul_code_words(n_out, k, lay);
        qmatmul_require_words(code_words, words, "code_words",
                              format("%lld x %lld codes", (long long)n_out, (long long)k).c_str());
        require_not_null(codes, "codes");
        require_not_null(scales, "scales");
        require_not_null(zeros, "zeros");
        const uint64_t ss = engram_dtype_size(scale_dtype);
        const uint64_t sbytes = uint64_t(n_out) * uint64_t(k / group_size) * ss;
        require_aligned(codes, 4, "codes");
        require_aligned(scales, ss, "scales");
        require_aligned(zeros, ss, "zeros");
        check_buffer(c, codes, words * 4, "codes");
        check_buffer(c, scales, sbytes, "scales");
        check_buffer(c, zeros, sbytes, "zeros");
        require_disjoint({{codes, words * 4, "codes", true},
                          {scales, sbytes, "scales", true},
                          {zeros, sbytes, "zeros", true}});
        HostScratch payload;
        const QFileHeader h = read_checked(c, path, payload);
        auto mismatch = [&](const char* field, long long file, long long asked) {
            if (file != asked)
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("path = \"%s\": the file's %s is %lld, but %s = %lld was asked for", path,
                            field, file, field, asked));
        };
        mismatch("n_out", h.n_out, n_out);
        mismatch("k", h.k, k);
        mismatch("group_size", h.group_size, group_size);
        mismatch("scale_dtype", h.scale_dtype, scale_dtype);
        mismatch("layout", h.layout, layout);
        const unsigned char* p = payload.as<unsigned char>();
        std::memcpy(codes, p, size_t(words * 4));
        std::memcpy(scales, p + words * 4, size_t(sbytes));
        std::memcpy(zeros, p + words * 4 + sbytes, size_t(sbytes));
    });
}

}  // extern "C"
