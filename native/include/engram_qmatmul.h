/*
 * engram_qmatmul.h — packed 2-bit weights and the matrix products over them,
 * one op family of the engram C ABI. Include engram.h, which includes this
 * header.
 */
#ifndef ENGRAM_QMATMUL_H
#define ENGRAM_QMATMUL_H

#include "engram.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Op ids (engram_op) of this family. The "main input dtype" that
   engram_op_supported asks about: the activations' dtype for QMATMUL, the
   float weights' dtype for QUANTIZE_RTN and QUANTIZE_REFINE, ENGRAM_DTYPE_U2 for the layout ops.
   Op stats counters: QMATMUL sets "weight_bytes" (bytes of codes, scales and
   zeros it read) and "dequant_tiles" (weight tiles expanded to fp32 by the
   large-m path; 0 when m <= 16 and the codes were unpacked in registers). */
typedef ENGRAM_ENUM(engram_qmatmul_op) {
    ENGRAM_OP_QMATMUL = 400,
    ENGRAM_OP_QMATMUL_QUANTIZE_RTN = 401,
    ENGRAM_OP_QMATMUL_PACK = 402,
    ENGRAM_OP_QMATMUL_UNPACK = 403,
    ENGRAM_OP_QMATMUL_PREPARE = 404,
    ENGRAM_OP_QMATMUL_UNPREPARE = 405,
    ENGRAM_OP_QMATMUL_QUANTIZE_REFINE = 406,
    ENGRAM_OP_QMATMUL_SAVE = 407,
    ENGRAM_OP_QMATMUL_FILE_INFO = 408,
    ENGRAM_OP_QMATMUL_LOAD = 409,
    ENGRAM_OP_QMATMUL_IMPORT_ONNX = 410,
    ENGRAM_OP_QMATMUL_EXPORT_ONNX = 411,
    ENGRAM_OP_QMATMUL_BITSTACK_DECOMPOSE = 412,
    ENGRAM_OP_QMATMUL_BITSTACK = 413
} engram_qmatmul_op;

/* ------------------------------------------------------------------------- */
/* The 2-bit weight format                                                      */
/*                                                                             */
/* A weight matrix W [n_out, k] (row-major: one row per output channel) is    */
/* cut along k into groups of G consecutive input channels, G = 32, 64 or     */
/* 128; k must be a multiple of G (other k are rejected, never padded). Each  */
/* (row, group) has a scale s and a zero point z, and each weight a code q in */
/* {0, 1, 2, 3} (unsigned):                                                   */
/*     W_hat[r, c] = s[r, c / G] * q[r, c] + z[r, c / G].                     */
/* s and z are stored as [n_out, k / G] row-major arrays of one dtype, F32 or */
/* F16 (both the same). s = 0 is allowed (a group of equal weights: every q   */
/* is then irrelevant and W_hat = z); negative s is allowed too.              */
/*                                                                             */
/* Codes (dtype ENGRAM_DTYPE_U2): 16 codes per uint32 word along k. In the   */
/* plain layout, row r is k / 16 consecutive words; the code of column c is   */
/* in word r * (k / 16) + c / 16 at bits [2 j, 2 j + 1] with j = c % 16, the  */
/* least significant bits holding the lowest column:                          */
/*     q[r, c] = (words[r * (k / 16) + c / 16] >> (2 * (c % 16))) & 3.        */
/* (A property of the uint32 value, independent of byte order.)               */
/*                                                                             */
/* The CPU-prepared layout interleaves the words of 4 consecutive rows so the */
/* CPU kernel streams one array and reuses each activation load for 4 rows:  */
/* with W = k / 16 and rows padded to a multiple of 4 with zero words,        */
/*     prepared[((r / 4) * W + w) * 4 + r % 4] = plain[r * W + w],            */
/* so it holds ceil(n_out / 4) * 4 * W words (engram_qmatmul_code_words).     */
/* plain -> prepared -> plain is exact; both layouts give bit-identical       */
/* products.                                                                  */
/* ------------------------------------------------------------------------- */

typedef ENGRAM_ENUM(engram_qlayout) {
    ENGRAM_QLAYOUT_PLAIN = 0,
    ENGRAM_QLAYOUT_CPU_PREPARED = 1
} engram_qlayout;

/* A quantized weight matrix as the ops read it. */
typedef struct engram_qweight {
    uint32_t struct_size;
    int32_t code_dtype;         /* ENGRAM_DTYPE_U2 (the only one)                    */
    int32_t scale_dtype;        /* F32 or F16: dtype of scales and zeros            */
    int32_t group_size;         /* G: 32, 64 or 128; must divide k                  */
    int32_t layout;             /* engram_qlayout of codes                          */
    int32_t reserved;           /* 0                                                */
    int64_t n_out;              /* rows (output channels)                           */
    int64_t k;                  /* columns (input channels), a multiple of G        */
    const uint32_t* codes;      /* code words in `layout`                           */
    uint64_t code_words;        /* length of codes in words: must equal
                                   engram_qmatmul_code_words(n_out, k, layout)     */
    const void* scales;         /* [n_out, k / G] of scale_dtype                    */
    const void* zeros;          /* [n_out, k / G] of scale_dtype                    */
} engram_qweight;

/* Defaults: code_dtype U2, scale_dtype F32, group_size 128, layout PLAIN, the
   rest 0 / NULL. */
ENGRAM_API engram_status engram_qweight_init(engram_qweight* w);

/* Words of code storage for an n_out x k matrix in `layout` (k a multiple of
   16). Not an op: no context. */
ENGRAM_API engram_status engram_qmatmul_code_words(int64_t n_out, int64_t k, engram_qlayout layout,
                                                   uint64_t* words);

/* ------------------------------------------------------------------------- */
/* Products                                                                    */
/*                                                                             */
/* y [m, n_out] = x [m, k] . W_hat^T, x of dtype F32, F16 or BF16, y of F32   */
/* or of x's dtype (rounded once, to nearest even). Each weight is            */
/* dequantised in fp32 as fma(q, s, z) (one rounding of the exact s q + z)   */
/* and the products are accumulated in fp32. NaN/Inf: as dequantise-then-     */
/* matmul in PyTorch: a NaN or Inf in row i of x makes row i of y NaN (Inf    */
/* times a zero weight is NaN; +-Inf may survive where every weight of that   */
/* column is nonzero and of one sign); a NaN or Inf in s or z of a row makes */
/* that column of y NaN or Inf. Determinism: each y entry is computed by one */
/* thread in a fixed order, so results are bit-identical run to run and for  */
/* every thread count and both code layouts (not across CPU ISAs: the vector */
/* width changes the summation order).                                        */
/* ------------------------------------------------------------------------- */

ENGRAM_API engram_status engram_qmatmul(engram_context* ctx, const engram_qweight* w, int64_t m,
                                        engram_dtype x_dtype, const void* x,
                                        engram_dtype y_dtype, void* y);

/* ------------------------------------------------------------------------- */
/* Quantizer and layout conversions                                            */
/* ------------------------------------------------------------------------- */

/* Round-to-nearest quantization with per-group min/max: for each (row, group)
   of w [n_out, k] (dtype F32, F16 or BF16), z = min, s = (max - min) / 3, both
   rounded to scale_dtype (F32 or F16), then q = clamp(round((w - z) / s), 0, 3)
   with the stored s and z (q = 0 where s = 0). Writes the plain-layout codes
   (code_words = engram_qmatmul_code_words(n_out, k, PLAIN)), scales and zeros
   ([n_out, k / group_size] of scale_dtype). A group holding NaN gets NaN s and
   z; a group whose range overflows F16 gets s = +inf (as a cast would). */
ENGRAM_API engram_status engram_qmatmul_quantize_rtn(engram_context* ctx, int64_t n_out, int64_t k,
                                                     engram_dtype w_dtype, const void* w,
                                                     int32_t group_size,
                                                     engram_dtype scale_dtype, uint32_t* codes,
                                                     uint64_t code_words, void* scales,
                                                     void* zeros);

/* decoupleQ-style refinement of the RTN result for calibration inputs X: with
   h = X^T X ([k, k] fp32, symmetric positive semi-definite; e.g. summed over
   the calibration tokens), minimises each row's layer-output error
   ||(w_r - W_hat_r) X^T||^2 = e_r^T h e_r by alternating, `iterations` times
   (0..100; 0 gives exactly RTN):
    - codes fixed: s and z of all the row's groups by least squares weighted by
      h (closed form: the row's 2 * (k / G) normal equations);
    - s, z fixed: codes re-chosen column by column in order (GPTQ-style),
      rounding to the nearest level after the error of the columns already
      rounded has been spread over the remaining ones through h^-1.
   Solves use h + 0.01 * mean(diag h) * I (so a rank-deficient X^T X works);
   the error is scored with h itself, and the best iterate (RTN included) is
   kept: the result's error is never above RTN's. Negative s can result. Same
   outputs and arguments as quantize_rtn, plus h; computed in double, O(k^3)
   once plus O(iterations * n_out * k^2); bit-identical for any thread count.
   A non-finite h entry, or an h whose damped form is not positive definite,
   is rejected (nothing written). Rows whose RTN s or z is not finite keep the
   RTN result. */
ENGRAM_API engram_status engram_qmatmul_quantize_refine(engram_context* ctx, int64_t n_out,
                                                        int64_t k, engram_dtype w_dtype,
                                                        const void* w, int32_t group_size,
                                                        engram_dtype scale_dtype, const float* h,
                                                        int32_t iterations, uint32_t* codes,
                                                        uint64_t code_words, void* scales,
                                                        void* zeros);

/* The layout conversions take any n_out >= 1 and k a multiple of 16 (no group
   size involved); lengths are in words and must equal
   engram_qmatmul_code_words for their layout; input and output must not
   overlap.
   codes [n_out, k] one code (0..3) per byte -> plain words (code_words long).
   A byte above 3 is rejected (nothing written). */
ENGRAM_API engram_status engram_qmatmul_pack(engram_context* ctx, int64_t n_out, int64_t k,
                                             const uint8_t* codes, uint32_t* words,
                                             uint64_t code_words);
/* Plain words -> codes [n_out, k], one per byte. */
ENGRAM_API engram_status engram_qmatmul_unpack(engram_context* ctx, int64_t n_out, int64_t k,
                                               const uint32_t* words, uint64_t code_words,
                                               uint8_t* codes);
/* Plain words (plain_words long) -> CPU-prepared words (prepared_words long,
   padding rows zero). */
ENGRAM_API engram_status engram_qmatmul_prepare(engram_context* ctx, int64_t n_out, int64_t k,
                                                const uint32_t* plain, uint64_t plain_words,
                                                uint32_t* prepared, uint64_t prepared_words);
/* CPU-prepared words -> plain words. Padding words that are not zero are
   rejected (not a prepared matrix of this shape; nothing written). */
ENGRAM_API engram_status engram_qmatmul_unprepare(engram_context* ctx, int64_t n_out, int64_t k,
                                                  const uint32_t* prepared,
                                                  uint64_t prepared_words, uint32_t* plain,
                                                  uint64_t plain_words);

/* ------------------------------------------------------------------------- */
/* File format of one quantized matrix (version 1)                            */
/*                                                                             */
/* A 64-byte header, all integers little-endian:                              */
/*   bytes  0..7   magic "ENGRAMQ2"                                           */
/*          8..11  version (1)            12..15 header bytes (64)            */
/*         16..23  n_out (int64)          24..31 k (int64)                    */
/*         32..35  group_size             36..39 code dtype (ENGRAM_DTYPE_U2) */
/*         40..43  scale dtype (F32/F16)  44..47 layout (engram_qlayout)      */
/*         48..55  payload bytes = 4 code_words + 2 * scale bytes             */
/*         56..59  CRC-32 (IEEE, as zlib's crc32) of the header with these    */
/*                 four bytes zero, followed by the payload                   */
/*         60..63  reserved (0)                                               */
/* then the payload: the code words (in the header's layout), the scales and  */
/* the zeros ([n_out, k / G] each), exactly as in memory (little-endian).     */
/* Ops 407-409 take host memory on a CPU context (the family has no CUDA      */
/* backend). Files that are shorter or longer than the header says, have a   */
/* wrong magic, an inconsistent header, a checksum that does not match, or   */
/* (load) a shape, group size, scale dtype or layout other than the one asked */
/* for are rejected with ENGRAM_ERR_INVALID_ARGUMENT and a message naming the */
/* path and the field (a newer version: ENGRAM_ERR_UNSUPPORTED); I/O errors   */
/* are ENGRAM_ERR_INVALID_ARGUMENT with strerror's text. Nothing is written   */
/* to the outputs unless the whole file is sound.                             */
/* ------------------------------------------------------------------------- */

/* Writes w (validated as for engram_qmatmul) to `path`: into a temporary file
   beside it (path + ".tmp-XXXXXX"), synced, then renamed over `path`, so
   readers see the old file or the whole new one; on failure the temporary
   file is removed and `path` is untouched. */
ENGRAM_API engram_status engram_qmatmul_save(engram_context* ctx, const engram_qweight* w,
                                             const char* path);
/* Reads and checks the whole file (checksum included) and describes it in
   *info (initialised as by engram_qweight_init, then scale_dtype, group_size,
   layout, n_out, k and code_words set; the pointers NULL), so the caller can
   allocate for engram_qmatmul_load. info->struct_size must be set. */
ENGRAM_API engram_status engram_qmatmul_file_info(engram_context* ctx, const char* path,
                                                  engram_qweight* info);
/* Loads the file into codes (code_words words, which must equal
   engram_qmatmul_code_words(n_out, k, layout)), scales and zeros
   ([n_out, k / group_size] of scale_dtype), bit for bit as saved, after
   checking that its header matches the arguments. Outputs must not overlap. */
ENGRAM_API engram_status engram_qmatmul_load(engram_context* ctx, const char* path, int64_t n_out,
                                             int64_t k, int32_t group_size,
                                             engram_dtype scale_dtype, engram_qlayout layout,
                                             uint32_t* codes, uint64_t code_words, void* scales,
                                             void* zeros);

/* ------------------------------------------------------------------------- */
/* ONNX Runtime MatMulNBits layout (com.microsoft, bits = 2)                   */
/*                                                                             */
/* MatMulNBits computes Y = A . W^T with W [N, K] dequantised per block of    */
/* block_size consecutive input channels as W[n, c] = (q - zp) * scale:      */
/*   B            uint8 [N, n_blocks, blob_size], n_blocks = ceil(K /         */
/*                block_size), blob_size = block_size * bits / 8; codes low   */
/*                bits first along K (bits = 2: byte j of a blob holds         */
/*                columns 4 j .. 4 j + 3, the first in bits 0-1);             */
/*   scales       [N * n_blocks] of T1 (F32 or F16), row-major;               */
/*   zero_points  absent (every zp = 2^(bits - 1) = 2), or uint8 packed like  */
/*                the codes, each row's n_blocks values padded to whole bytes */
/*                ([N * ceil(n_blocks * bits / 8)] bytes), or unpacked of T1  */
/*                ([N * n_blocks], may be fractional).                        */
/* Engram's format holds the same codes with s = scale and z = -scale * zp.  */
/* Engram needs block_size = 32, 64 or 128 dividing K (others are rejected). */
/* ------------------------------------------------------------------------- */

typedef ENGRAM_ENUM(engram_onnx_zero_points) {
    ENGRAM_ONNX_ZP_NONE = 0,    /* no zero_points input: zp = 2               */
    ENGRAM_ONNX_ZP_PACKED = 1,  /* uint8, 4 two-bit values per byte, per row  */
    ENGRAM_ONNX_ZP_FLOAT = 2    /* unpacked, of scale_dtype                   */
} engram_onnx_zero_points;

/* One MatMulNBits weight: read by import, written by export (arrays owned by
   the caller; lengths in bytes must match the shape exactly). */
typedef struct engram_onnx_nbits {
    uint32_t struct_size;
    int32_t bits;              /* 2 (the only one supported)                     */
    int64_t n;                 /* N: output channels                             */
    int64_t k;                 /* K: input channels                              */
    int32_t block_size;        /* 32, 64 or 128, dividing K                      */
    int32_t scale_dtype;       /* T1: F32 or F16                                 */
    int32_t zero_points_kind;  /* engram_onnx_zero_points                        */
    int32_t reserved;          /* 0                                              */
    uint8_t* b;                /* [N, n_blocks, blob_size]                       */
    uint64_t b_bytes;
    void* scales;              /* [N * n_blocks] of scale_dtype                  */
    uint64_t scale_bytes;
    void* zero_points;         /* per zero_points_kind; NULL for NONE            */
    uint64_t zero_point_bytes; /* 0 for NONE                                     */
} engram_onnx_nbits;

/* Defaults: bits 2, block_size 128, scale_dtype F32, zero_points_kind PACKED,
   the rest 0 / NULL. */
ENGRAM_API engram_status engram_onnx_nbits_init(engram_onnx_nbits* b);

/* MatMulNBits -> Engram's plain layout with group_size = block_size: codes
   copied bit for bit, s = scale and z = -scale * zp, both computed exactly
   and rounded to scale_dtype (F32 or F16; F16 through F32). Exact when the
   scales are F16 and scale_dtype is F32 (with integer zero points), and
   whenever the values fit the dtype. K not a multiple of block_size (a
   partial last block) is rejected, as are bits other than 2. */
ENGRAM_API engram_status engram_qmatmul_import_onnx(engram_context* ctx,
                                                    const engram_onnx_nbits* src,
                                                    engram_dtype scale_dtype, uint32_t* codes,
                                                    uint64_t code_words, void* scales,
                                                    void* zeros);
/* Engram (either layout) -> MatMulNBits described by *dst (bits 2, n, k,
   block_size = w->group_size, scale_dtype = w->scale_dtype, zero_points_kind
   and the arrays and lengths set by the caller): codes copied, scale = s, and
   zp = -z / s: for NONE and PACKED every group must have z exactly -s * zp
   with zp = 2 (NONE) or an integer zp in 0..3 (PACKED), else the call is
   rejected naming the first group that is not (nothing written); FLOAT takes
   any group with s != 0 (zp rounded to scale_dtype, so not exact in
   general) and rejects s = 0 with z != 0. Import of an exported matrix gives
   back the same codes, s and z when the export was exact (NONE / PACKED). */
ENGRAM_API engram_status engram_qmatmul_export_onnx(engram_context* ctx, const engram_qweight* w,
                                                    engram_onnx_nbits* dst);

/* ------------------------------------------------------------------------- */
/* BitStack: sign planes                                                      */
/*                                                                             */
/* W [n_out, k] is approximated by the sum of its first p planes:            */
/*   W_hat_p[r, c] = sum_{j < p} sign_j[r, c] * u_j[r] * v_j[c],              */
/* sign_j = +1 or -1 (1 bit per weight per plane), u_j [n_out] and v_j [k]   */
/* per-row and per-column scales of plane j (f32, >= 0). Planes are stored   */
/* plane-major, so the first p planes are a prefix of each array and a model */
/* can be dialled from coarse to fine by loading more of them. Signs: plane  */
/* j, row r is k / 32 uint32 words; bit (c % 32) of word c / 32 is 1 for +1  */
/* (k a multiple of 32):                                                      */
/*   signs[(j * n_out + r) * (k / 32) + c / 32] >> (c % 32) & 1.              */
/* ------------------------------------------------------------------------- */

typedef struct engram_bitstack {
    uint32_t struct_size;
    int32_t planes;            /* planes held by the arrays (1..32)              */
    int64_t n_out;
    int64_t k;                 /* a multiple of 32                               */
    const uint32_t* signs;     /* planes * n_out * k / 32 words                  */
    uint64_t sign_words;       /* must equal planes * n_out * k / 32             */
    const float* row_scales;   /* u: [planes, n_out]                             */
    const float* col_scales;   /* v: [planes, k]                                 */
} engram_bitstack;

/* Defaults: planes 1, the rest 0 / NULL. */
ENGRAM_API engram_status engram_bitstack_init(engram_bitstack* b);

/* Residual sign decomposition of w [n_out, k] (F32, F16 or BF16) into
   `planes` planes (1..32): R_0 = W; plane j takes sign_j = sign(R_j) (+1 at
   0) and u_j v_j^T the best rank-1 approximation of |R_j| (power iteration
   in double, a fixed 16 steps from v = 1, so the result is deterministic);
   R_{j+1} = R_j - sign_j * u_j v_j^T. u_j = |R_j| v_j with ||v_j|| = 1 is the
   least-squares scale of that direction, so in exact arithmetic
   ||R_{j+1}||_F^2 = ||R_j||_F^2 - ||u_j||^2: the error never grows with p
   (u, v are stored as f32). Outputs sized for `planes` planes; a non-finite
   weight is rejected. Bit-identical for any thread count. */
ENGRAM_API engram_status engram_qmatmul_bitstack_decompose(engram_context* ctx, int64_t n_out,
                                                           int64_t k, engram_dtype w_dtype,
                                                           const void* w, int32_t planes,
                                                           uint32_t* signs, uint64_t sign_words,
                                                           float* row_scales, float* col_scales);

/* y [m, n_out] = x [m, k] . W_hat_p^T over the first p planes (1 <= p <=
   b->planes): per plane, sum_c sign * (x[c] v[c]) in fp32 (x v rounded once),
   times u[r], planes added in order; x F32/F16/BF16, y F32 or x's dtype.
   Bit-identical for any thread count. */
ENGRAM_API engram_status engram_qmatmul_bitstack(engram_context* ctx, const engram_bitstack* b,
                                                 int32_t p, int64_t m, engram_dtype x_dtype,
                                                 const void* x, engram_dtype y_dtype, void* y);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ENGRAM_QMATMUL_H */
