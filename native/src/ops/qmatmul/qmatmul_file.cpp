// qmatmul_file.cpp — see qmatmul_file.hpp.
#include "ops/qmatmul/qmatmul_file.hpp"

#include <cstring>

namespace engram {

namespace {

void put_u32(unsigned char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
void put_u64(unsigned char* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
uint32_t get_u32(const unsigned char* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i);
    return v;
}
uint64_t get_u64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
    return v;
}

struct Crc32Table {
    uint32_t t[256];
    Crc32Table() {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int b = 0; b < 8; ++b) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
    }
};

}  // namespace

// Layout: magic[8] | version u32 | header_bytes u32 | n_out i64 | k i64 |
// group_size i32 | code_dtype i32 | scale_dtype i32 | layout i32 |
// payload_bytes u64 | checksum u32 | reserved u32 (0).
void qfile_encode(const QFileHeader& h, unsigned char out[kQFileHeaderBytes]) {
    std::memcpy(out, kQFileMagic, 8);
    put_u32(out + 8, h.version);
    put_u32(out + 12, h.header_bytes);
    put_u64(out + 16, uint64_t(h.n_out));
    put_u64(out + 24, uint64_t(h.k));
    put_u32(out + 32, uint32_t(h.group_size));
    put_u32(out + 36, uint32_t(h.code_dtype));
    put_u32(out + 40, uint32_t(h.scale_dtype));
    put_u32(out + 44, uint32_t(h.layout));
    put_u64(out + 48, h.payload_bytes);
    put_u32(out + kQFileChecksumAt, h.checksum);
    put_u32(out + 60, h.reserved);
}

bool qfile_decode(const unsigned char in[kQFileHeaderBytes], QFileHeader& h) {
    if (std::memcmp(in, kQFileMagic, 8) != 0) return false;
    h.version = get_u32(in + 8);
    h.header_bytes = get_u32(in + 12);
    h.n_out = int64_t(get_u64(in + 16));
    h.k = int64_t(get_u64(in + 24));
    h.group_size = int32_t(get_u32(in + 32));
    h.code_dtype = int32_t(get_u32(in + 36));
    h.scale_dtype = int32_t(get_u32(in + 40));
    h.layout = int32_t(get_u32(in + 44));
    h.payload_bytes = get_u64(in + 48);
    h.checksum = get_u32(in + kQFileChecksumAt);
    h.reserved = get_u32(in + 60);
    return true;
}

uint32_t crc32_update(uint32_t crc, const void* data, size_t bytes) {
    static const Crc32Table table;
    const unsigned char* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (size_t i = 0; i < bytes; ++i) crc = table.t[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

}  // namespace engram
