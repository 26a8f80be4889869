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
    ENGRAM_OP_QMATMUL_QUANTIZE_REFINE = 406
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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ENGRAM_QMATMUL_H */
