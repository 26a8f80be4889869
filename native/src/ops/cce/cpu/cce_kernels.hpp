// cce_kernels.hpp — the per-ISA building blocks of the CPU CCE. cce.cpp owns
// the loops over token blocks and vocabulary tiles, threading and scratch;
// these functions do the arithmetic on one tile. They are implemented once as
// templates (cce_tiles.hpp) and instantiated per ISA (cce_scalar.cpp,
// avx2/cce_avx2.cpp, avx512/cce_avx512.cpp; avx512_bf16/cce_avx512_bf16.cpp
// adds the bf16 logits product, cce_tiles_bf16.hpp).
//
// Orientation (why): the classifier C [v, d] is the big operand, so its rows
// are the streamed A operand of the logits product and are packed only a
// micro-panel at a time (MR rows x KC, kept in L1); the token block is the
// small, reused operand, packed once per block. Logit tiles are therefore
// stored transposed, zt[vocab row][token], with tokens along vector lanes:
// every per-token reduction (max, sum of exp) is a vertical, lane-parallel
// one. Token panels of NR tokens are also the gradient filter's block width.
#pragma once

#include <cstdint>

#include "engram.h"

namespace engram::cpu {

struct CceKernels {
    engram_cpu_isa isa;
    int mr;  // vocabulary rows per micro-tile (also the d rows of the dE product)
    int nr;  // tokens per panel (vector lanes x register columns)
    int kc;  // depth of one packed chunk of the token panels

    // dst[i] = float(src[i]) for n contiguous elements of dtype dt.
    void (*to_f32)(const void* src, engram_dtype dt, int64_t n, float* dst);
    // dst[i] = dtype(src[i]), round to nearest even.
    void (*from_f32)(const float* src, int64_t n, engram_dtype dt, void* dst);

    // Token rows -> panels for the logits product: for each KC chunk of d,
    // for each panel of NR tokens, [kc][NR]. Chunk c starts at
    // panels + c*KC*m_pad. Packs panels [p_begin, p_end) (so workers can share
    // the job) from f32 rows [(p_end - p_begin)*NR x d] with row stride ld,
    // `rows` being the first row of panel p_begin (rows past the block's
    // tokens are zero).
    void (*pack_token_panels)(const float* rows, int64_t ld, int64_t m_pad, int64_t d,
                              int64_t p_begin, int64_t p_end, float* panels);

    // zt[vt_pad x m_pad] = c_rows[vt x d] . tokens^T (all m_pad columns).
    // apack: scratch of kc*mr floats. Rows vt..vt_pad-1 of zt are unspecified.
    void (*logits_tile)(const float* c_rows, int64_t vt, int64_t d, const float* panels,
                        int64_t m_pad, float* zt, float* apack);

    // The same product, bit for bit, without packing the classifier rows:
    // faster when a block has only a panel or two of tokens.
    void (*logits_tile_unpacked)(const float* c_rows, int64_t vt, int64_t d, const float* panels,
                                 int64_t m_pad, float* zt);

    // In place: zt[j][i] <- softcap(zt[j][i] + bias[j]) for j < vt, all m_pad
    // columns. bias may be NULL; softcap 0 = off.
    void (*tile_transform)(float* zt, int64_t vt, int64_t m_pad, const float* bias, float softcap);

    // Merges a transformed tile into per-token running statistics (columns
    // 0..m_pad-1; columns >= the valid tokens hold garbage the caller ignores):
    // run_m/run_s online log-sum-exp state, lsum (NULL = skip) sum of logits.
    // tgt_row[i]: the tile row of token i's target, or -1; tgt[i] receives
    // that logit. colbuf: scratch of 2*m_pad floats.
    void (*tile_stats)(const float* zt, int64_t vt, int64_t m_pad, const int32_t* tgt_row,
                       float* run_m, float* run_s, float* tgt, float* lsum, float* colbuf);

    // In place: transformed logits -> dloss/dlogit for the tile. Per token i
    // (arrays of m_pad): lse, prob_scale (1 + 2 z_loss lse), up (upstream
    // gradient; 0 for padding columns), tgt_row as above. Per token panel p:
    // skip[p] = 1 when every |dloss/dz| before `up` and the softcap chain rule
    // is below filter_eps. For kept panels: dbias[j] += row sums (if dbias),
    // and the tile is written packed for the dC product: gp[j/mr][i][j%mr].
    void (*tile_grads)(float* zt, int64_t vt, int64_t m_pad, float softcap, const float* lse,
                       const float* prob_scale, const float* up, const int32_t* tgt_row,
                       float offset, float target_weight, float filter_eps, uint8_t* skip,
                       float* dbias, float* gp);

    // det[d_pad x m_pad] += c_rows[vt x d]^T . zt (the gradient tile), for
    // token panels with skip[p] == 0. d_pad = d rounded up to mr. apad:
    // scratch of vt*mr floats (for the ragged last rows of d).
    void (*grad_e_tile)(const float* c_rows, int64_t vt, int64_t d, const float* zt,
                        int64_t m_pad, const uint8_t* skip, float* det, float* apad);

    // dc[vt x d] += gp^T . rows (token rows m_pad x d with row stride ld and
    // nr floats of readable padding after the last row), over token panels
    // with skip[p] == 0.
    void (*grad_c_tile)(const float* gp, int64_t vt, int64_t m_pad, const uint8_t* skip,
                        const float* rows, int64_t ld, int64_t d, float* dc);

    // ---- bf16 inputs on a bf16 dot product (AVX512_BF16); nullptr elsewhere,
    // where bf16 goes through the f32 functions above. ----
    // Only the logits product runs in bf16 (fp32 accumulation, same error
    // model as f32: bf16 products are exact in fp32). The gradient products
    // stay in f32: their left operand is the probability tile, which bf16
    // would round by 2^-9 relative, an error the CPU's bf16 tolerance (fp32
    // rounding only, tests/native/ops/cce/cce_harness.hpp) does not allow —
    // tried: grad_e and grad_c then miss that bound by 200 to 1400 times in
    // cce_bf16_test. (Splitting it into two bf16 terms would be accurate but
    // as slow as f32.) The tiles, epilogues and scratch are those of the f32
    // functions, so mr, nr match.
    //
    // Token rows -> panels of bf16 pairs along d ((d+1)/2 pairs, an odd d's
    // last pair with a zero high half): same chunk/panel layout as
    // pack_token_panels in 32-bit words, chunks of kc pairs, so the panels
    // take at most the f32 panels' bytes. rows[t]: bf16 row of token
    // p_begin*nr + t (d elements), nullptr for padding.
    void (*pack_token_panels_bf16)(const uint16_t* const* rows, int64_t d, int64_t m_pad,
                                   int64_t p_begin, int64_t p_end, uint32_t* panels) = nullptr;
    // logits_tile from bf16 classifier rows (row stride d) and pair panels.
    void (*logits_tile_bf16)(const uint16_t* c_rows, int64_t vt, int64_t d, const uint32_t* panels,
                             int64_t m_pad, float* zt, uint32_t* apack) = nullptr;
    // The same bits without packing the classifier rows.
    void (*logits_tile_unpacked_bf16)(const uint16_t* c_rows, int64_t vt, int64_t d,
                                      const uint32_t* panels, int64_t m_pad, float* zt) = nullptr;
};

// Best kernels for this CPU (respecting the ENGRAM_CPU_ISA override).
const CceKernels& cce_kernels();
// Kernels of a given ISA, or nullptr when the CPU or build lacks it.
const CceKernels* cce_kernels_for(engram_cpu_isa isa);

// Per-ISA tables, defined in the per-ISA files.
const CceKernels& cce_kernels_scalar();
const CceKernels& cce_kernels_avx2();
const CceKernels& cce_kernels_avx512();
const CceKernels& cce_kernels_avx512_bf16();

}  // namespace engram::cpu
