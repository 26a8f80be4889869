// qmatmul_file.hpp — the file format of one quantized matrix (engram_qmatmul.h,
// "File format"): a 64-byte little-endian header, then the codes, scales and
// zeros exactly as in memory. Encoding, decoding and the checksum; the entry
// points (qmatmul_file_api.cpp) do the I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engram.h"

namespace engram {

constexpr char kQFileMagic[8] = {'E', 'N', 'G', 'R', 'A', 'M', 'Q', '2'};
constexpr uint32_t kQFileVersion = 1;
constexpr uint32_t kQFileHeaderBytes = 64;
// Byte offset of the checksum field (computed with it zero).
constexpr size_t kQFileChecksumAt = 56;

struct QFileHeader {
    uint32_t version = kQFileVersion;
    uint32_t header_bytes = kQFileHeaderBytes;
    int64_t n_out = 0, k = 0;
    int32_t group_size = 0, code_dtype = ENGRAM_DTYPE_U2, scale_dtype = ENGRAM_DTYPE_F32,
            layout = ENGRAM_QLAYOUT_PLAIN;
    uint64_t payload_bytes = 0;
    uint32_t checksum = 0;
    uint32_t reserved = 0;
};

// The 64 header bytes (checksum as given).
void qfile_encode(const QFileHeader& h, unsigned char out[kQFileHeaderBytes]);
// Fields of 64 header bytes; false if the magic is wrong (nothing else is
// checked here).
bool qfile_decode(const unsigned char in[kQFileHeaderBytes], QFileHeader& h);

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): crc32_update(0, ...)
// starts a checksum; updates chain.
uint32_t crc32_update(uint32_t crc, const void* data, size_t bytes);

}  // namespace engram
