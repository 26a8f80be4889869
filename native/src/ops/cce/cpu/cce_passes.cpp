// cce_passes.cpp — see cce_passes.hpp. Sizes, and why:
//  - vocabulary tiles of 96 rows (a multiple of every micro-tile height, 4, 6
//    and 12): the transposed logit tile (96 x 512 tokens = 192 KB) and its
//    packed gradient copy stay in L2 while three products run over them;
//  - forward token blocks bounded by 2 MiB of packed tokens, so the forward's
//    whole scratch stays near 1/200 of the materialised logits at the
//    reference size (N=4096, V=32768, D=1024);
//  - gradient blocks of 512 tokens: C is re-read once per block, so larger is
//    fewer passes over C; 512 keeps the per-worker dE accumulator (d x 512)
//    and the gradient tile cache-friendly;
//  - fused chunks: tokens whose logits over the whole vocabulary fit 4 MiB
//    (and 1/128 of the logit matrix), at least one token panel; or, when the
//    caller gives a scratch budget, as many as fit the budget (at most 1024).
#include "ops/cce/cpu/cce_passes.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/cce/cce_math.h"

namespace engram::cpu {

namespace {

constexpr int64_t kTileRows = 96;
constexpr int64_t kForwardPanelBytes = int64_t(2) << 20;
constexpr int64_t kGradBlockTokens = 512;
constexpr int64_t kFusedLogitBytes = int64_t(4) << 20;
// Largest fused chunk a scratch budget can buy: beyond it the per-worker dE
// accumulators (d x chunk) outgrow L2 and the dC updates gain nothing more.
constexpr int64_t kFusedMaxTokens = 1024;
// Blocks of up to this many tokens use the logits kernel that does not pack
// the classifier rows: one packed micro-panel would meet too few token panels
// to repay its packing.
constexpr int64_t kUnpackedTokens = 32;

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// Row stride of gathered token rows: d padded off powers of two, so that the
// rows one micro-kernel reads (the dC product's B operand) fall into
// different L1 sets instead of evicting each other (d = 1024 would put every
// row 4 KB apart, all in one set).
int64_t row_stride(int64_t d) { return round_up(d, 16) + 16; }

struct Tile {
    int64_t index, start, rows;
};

int64_t tile_count(const CceRun& r) { return ceil_div(r.p.v, kTileRows); }

Tile tile_at(const CceRun& r, int64_t t) {
    const int64_t start = t * kTileRows;
    return Tile{t, start, std::min(kTileRows, r.p.v - start)};
}

// A block of valid tokens [begin, begin + m) in compacted order; m_pad is m
// rounded up to whole token panels.
struct Block {
    int64_t begin, m, m_pad;
};

Block block_at(const CceRun& r, int64_t begin, int64_t size) {
    const int64_t m = std::min(size, r.count() - begin);
    return Block{begin, m, round_up(m, r.k.nr)};
}

int workers(const CceRun& r) { return r.ctx.pool->size(); }

// The tile's classifier rows in f32: the input itself when it is f32, else
// converted into buf (tile rows x d).
const float* tile_rows(const CceRun& r, Tile t, float* buf) {
    const int64_t d = r.p.d;
    if (r.p.dtype == ENGRAM_DTYPE_F32) return static_cast<const float*>(r.p.c) + t.start * d;
    r.k.to_f32(static_cast<const uint16_t*>(r.p.c) + t.start * d, r.p.dtype, t.rows * d, buf);
    return buf;
}

// bf16 inputs whose logits product runs on the bf16 dot product (the
// kernels have one); the token panels then hold bf16 pairs (in the same
// buffer: they take at most the f32 panels' bytes) and the classifier rows are
// read as bf16, converted to f32 only for the dE product.
bool bf16_logits(const CceRun& r) { return r.p.dtype == ENGRAM_DTYPE_BF16 && r.k.logits_tile_bf16; }

// Packs the bf16 pair panels [p0, p1) of block b straight from the input rows.
void pack_bf16_panels(const CceRun& r, Block b, int64_t p0, int64_t p1, float* panels) {
    const int64_t nr = r.k.nr, d = r.p.d;
    constexpr int64_t kMaxNr = 64;  // tokens per panel of any kernel table with bf16
    const uint16_t* rows[kMaxNr];
    const uint16_t* e = static_cast<const uint16_t*>(r.p.e);
    for (int64_t q = p0; q < p1; ++q) {
        for (int64_t j = 0; j < nr && j < kMaxNr; ++j) {
            const int64_t i = q * nr + j;
            rows[j] = i < b.m ? e + r.tokens.rows[size_t(b.begin + i)] * d : nullptr;
        }
        r.k.pack_token_panels_bf16(rows, d, b.m_pad, q, q + 1, reinterpret_cast<uint32_t*>(panels));
    }
}

// The tile's f32 classifier rows for the logits product; nullptr on the bf16
// path, which converts them only if the dE product runs (grad_tile), so a
// tile whose token panels the filter all skips is never converted.
const float* logit_rows(const CceRun& r, Tile t, float* buf) {
    return bf16_logits(r) ? nullptr : tile_rows(r, t, buf);
}

// Row of the target inside tile t for each token of the block, -1 elsewhere.
void target_rows(const CceRun& r, Block b, Tile t, int32_t* out) {
    for (int64_t i = 0; i < b.m_pad; ++i) {
        const int64_t col = i < b.m ? r.tokens.target_col[size_t(b.begin + i)] : -1;
        out[i] = col >= t.start && col < t.start + t.rows ? int32_t(col - t.start) : -1;
    }
}

// f32 copies of rows [first, last) of the block's tokens (padding rows zero),
// row stride row_stride(d).
void gather_rows(const CceRun& r, Block b, int64_t first, int64_t last, float* rows) {
    const int64_t d = r.p.d, ld = row_stride(d);
    const size_t es = engram_dtype_size(r.p.dtype);
    for (int64_t i = first; i < last; ++i) {
        float* dst = rows + (i - first) * ld;
        if (i < b.m) {
            const int64_t row = r.tokens.rows[size_t(b.begin + i)];
            r.k.to_f32(static_cast<const char*>(r.p.e) + size_t(row) * size_t(d) * es, r.p.dtype,
                       d, dst);
        } else {
            std::memset(dst, 0, sizeof(float) * size_t(d));
        }
    }
}

// Hands tiles to the workers in a fixed round-robin: worker w takes tiles
// w, w + W, w + 2W, ... in order. Each worker's partial sums (statistics, dE)
// then hold the same tiles in the same order on every run, so results are
// bit-identical run to run for a given thread count (a shared counter would
// balance better, but makes every partial depend on scheduling).
// Interleaving keeps the workers balanced when the gradient filter skips
// more of one end of a frequency-ordered vocabulary.
template <class F>
void for_each_tile(CceRun& r, F&& fn) {
    const int64_t tiles = tile_count(r);
    r.ctx.pool->run(workers(r), [&](int w, int count) {
        for (int64_t t = w; t < tiles; t += count) fn(w, tile_at(r, t));
    });
}

// Per-worker running statistics for one block, merged after its tiles.
struct RunningStats {
    HostScratch m, s, tgt, lsum, colbuf;
    RunningStats(engram_context& ctx, int64_t m_pad, bool with_lsum)
        : m(ctx, 4 * m_pad),
          s(ctx, 4 * m_pad),
          tgt(ctx, 4 * m_pad),
          lsum(ctx, with_lsum ? 4 * m_pad : 0),
          colbuf(ctx, 8 * m_pad) {}
    void reset(int64_t m_pad) {
        std::fill_n(m.as<float>(), m_pad, -INFINITY);
        std::fill_n(s.as<float>(), m_pad, 0.0f);
        std::fill_n(tgt.as<float>(), m_pad, 0.0f);
        if (lsum.bytes()) std::fill_n(lsum.as<float>(), m_pad, 0.0f);
    }
};

// Merges the workers' statistics of block b into the per-token outputs.
void merge_stats(const std::vector<RunningStats>& st, Block b, float* m, float* s, float* tgt,
                 float* lsum) {
    for (int64_t i = 0; i < b.m; ++i) {
        LseState acc = lse_empty();
        float t = 0.0f, l = 0.0f;
        for (const RunningStats& w : st) {
            acc = lse_merge(acc, LseState{w.m.as<float>()[i], w.s.as<float>()[i]});
            t += w.tgt.as<float>()[i];
            if (lsum) l += w.lsum.as<float>()[i];
        }
        m[b.begin + i] = acc.m;
        s[b.begin + i] = acc.s;
        tgt[b.begin + i] = t;
        if (lsum) lsum[b.begin + i] = l;
    }
}

// Scratch of one worker for the tile loops; need_e: the dE product runs (on
// the bf16 path, the only user of f32 classifier rows).
struct WorkerTiles {
    HostScratch zt, apack, ctile, tgt_row;
    WorkerTiles(CceRun& r, int64_t m_pad, bool need_e)
        : zt(r.ctx, 4 * round_up(kTileRows, r.k.mr) * m_pad),
          apack(r.ctx, 4 * int64_t(r.k.kc) * r.k.mr),
          ctile(r.ctx, r.p.dtype == ENGRAM_DTYPE_F32 || (bf16_logits(r) && !need_e)
                           ? 0
                           : 4 * kTileRows * r.p.d),
          tgt_row(r.ctx, 4 * m_pad) {}
};

// Extra per-worker scratch for gradient tiles; row: one grad_e row being
// summed from the workers' partials.
struct WorkerGrads {
    HostScratch gp, det, apad, skip, row;
    WorkerGrads(CceRun& r, int64_t m_pad, bool want_e)
        : gp(r.ctx, 4 * round_up(kTileRows, r.k.mr) * m_pad),
          det(r.ctx, want_e ? 4 * round_up(r.p.d, r.k.mr) * m_pad : 0),
          apad(r.ctx, 4 * kTileRows * r.k.mr),
          skip(r.ctx, m_pad / r.k.nr),
          row(r.ctx, want_e ? 4 * r.p.d : 0) {}
};

// Logits of tile t (classifier rows crow, f32; unused on the bf16 path, which
// reads the input's rows) for block b into zt, bias and softcap applied. Both
// kernels of a path compute every logit as the same sequential chain, so every
// pass sees the same logits bit for bit whichever a block uses (exp(z - lse)
// would amplify any difference).
void logits_into(CceRun& r, WorkerTiles& w, Tile t, const float* crow, const float* panels,
                 Block b, float* zt) {
    if (bf16_logits(r)) {
        const uint16_t* c16 = static_cast<const uint16_t*>(r.p.c) + t.start * r.p.d;
        const uint32_t* pp = reinterpret_cast<const uint32_t*>(panels);
        if (b.m_pad <= kUnpackedTokens)
            r.k.logits_tile_unpacked_bf16(c16, t.rows, r.p.d, pp, b.m_pad, zt);
        else
            r.k.logits_tile_bf16(c16, t.rows, r.p.d, pp, b.m_pad, zt, w.apack.as<uint32_t>());
    } else if (b.m_pad <= kUnpackedTokens)
        r.k.logits_tile_unpacked(crow, t.rows, r.p.d, panels, b.m_pad, zt);
    else
        r.k.logits_tile(crow, t.rows, r.p.d, panels, b.m_pad, zt, w.apack.as<float>());
    r.k.tile_transform(zt, t.rows, b.m_pad, r.bias_f32() ? r.bias_f32() + t.start : nullptr,
                       r.p.softcap);
}

// Merges tile t's transformed logits of block b into st (w.tgt_row is set here).
void stats_tile(CceRun& r, WorkerTiles& w, RunningStats& st, Tile t, Block b, const float* zt) {
    target_rows(r, b, t, w.tgt_row.as<int32_t>());
    r.k.tile_stats(zt, t.rows, b.m_pad, w.tgt_row.as<int32_t>(), st.m.as<float>(),
                   st.s.as<float>(), st.tgt.as<float>(),
                   st.lsum.bytes() ? st.lsum.as<float>() : nullptr, st.colbuf.as<float>());
}

// Per-token arrays of a block for the gradient epilogue (padding: lse +inf,
// scale 0, up 0, so padding columns produce exactly zero gradient).
struct BlockCoefs {
    HostScratch lse, scale, up;
    BlockCoefs(engram_context& ctx, int64_t m_pad)
        : lse(ctx, 4 * m_pad), scale(ctx, 4 * m_pad), up(ctx, 4 * m_pad) {}
    void fill(const CceRun& r, Block b, const float* lse_tok, const float* up_tok) {
        for (int64_t i = 0; i < b.m_pad; ++i) {
            const bool real = i < b.m;
            const float l = real ? lse_tok[b.begin + i] : INFINITY;
            lse.as<float>()[i] = l;
            scale.as<float>()[i] = real ? cce_prob_scale(l, r.p.z_loss) : 0.0f;
            up.as<float>()[i] = real ? up_tok[b.begin + i] : 0.0f;
        }
    }
};

// dloss/dlogit of tile t (zt holds its transformed logits), then the dE and
// dC products for the panels the filter keeps (w.tgt_row is set here).
void grad_tile(CceRun& r, WorkerTiles& w, WorkerGrads& g, const BlockCoefs& co, Tile t, Block b,
               float* zt, const float* crow, const float* rows, const GradDest& dst,
               FilterCount& count) {
    const CceProblem& p = r.p;
    target_rows(r, b, t, w.tgt_row.as<int32_t>());
    uint8_t* skip = g.skip.as<uint8_t>();
    r.k.tile_grads(zt, t.rows, b.m_pad, p.softcap, co.lse.as<float>(), co.scale.as<float>(),
                   co.up.as<float>(), w.tgt_row.as<int32_t>(), p.smoothing * p.inv_vocab(),
                   1.0f - p.smoothing, p.filter_eps, skip,
                   dst.dbias ? dst.dbias + t.start : nullptr, g.gp.as<float>());
    const int64_t panels = b.m_pad / r.k.nr;
    uint64_t skipped = 0;
    for (int64_t q = 0; q < panels; ++q) skipped += skip[q];
    count.total.fetch_add(uint64_t(panels), std::memory_order_relaxed);
    count.skipped.fetch_add(skipped, std::memory_order_relaxed);
    if (skipped == uint64_t(panels)) return;
    if (dst.grad_e) {
        if (!crow) crow = tile_rows(r, t, w.ctile.as<float>());  // bf16 path: converted here
        r.k.grad_e_tile(crow, t.rows, p.d, zt, b.m_pad, skip, g.det.as<float>(), g.apad.as<float>());
    }
    if (dst.dc)
        r.k.grad_c_tile(g.gp.as<float>(), t.rows, b.m_pad, skip, rows, row_stride(p.d), p.d,
                        dst.dc + t.start * p.d);
}

// Gathers the block's token rows (f32) and packs them into panels, shared
// among the workers.
void prepare_block(CceRun& r, Block b, float* rows, float* panels) {
    const int64_t nr = r.k.nr, d = r.p.d, ld = row_stride(d);
    r.ctx.pool->parallel_for(b.m_pad / nr, 1, [&](int64_t p0, int64_t p1, int) {
        gather_rows(r, b, p0 * nr, p1 * nr, rows + p0 * nr * ld);
        if (bf16_logits(r))
            pack_bf16_panels(r, b, p0, p1, panels);
        else
            r.k.pack_token_panels(rows + p0 * nr * ld, ld, b.m_pad, d, p0, p1, panels);
    });
    std::memset(rows + b.m_pad * ld, 0, sizeof(float) * size_t(nr));  // over-read padding
}

// grad_e rows of the block's tokens: sum of the workers' transposed partials.
void write_grad_e(CceRun& r, const std::vector<WorkerGrads>& g, Block b, const GradDest& dst) {
    const int64_t d = r.p.d;
    const size_t gs = engram_dtype_size(dst.grad_e_dtype);
    r.ctx.pool->parallel_for(b.m, 16, [&](int64_t i0, int64_t i1, int worker) {
        float* row = g[size_t(worker)].row.as<float>();
        for (int64_t i = i0; i < i1; ++i) {
            std::fill_n(row, d, 0.0f);
            for (const WorkerGrads& w : g) {
                const float* det = w.det.as<float>() + i;
                for (int64_t j = 0; j < d; ++j) row[j] += det[j * b.m_pad];
            }
            const int64_t tok = r.tokens.rows[size_t(b.begin + i)];
            r.k.from_f32(row, d, dst.grad_e_dtype,
                         static_cast<char*>(dst.grad_e) + size_t(tok) * size_t(d) * gs);
        }
    });
}

}  // namespace

CceRun::CceRun(engram_context& c, const CceProblem& prob)
    : ctx(c),
      p(prob),
      k(cce_kernels()),
      tokens(collect_valid_tokens(prob)),
      tokens_account(c, tokens.rows.capacity() * 8),
      bias(c, prob.bias ? 4 * prob.v : 0) {
    if (prob.bias) k.to_f32(prob.bias, prob.dtype, prob.v, bias.as<float>());
}

void stats_pass(CceRun& r, float* m, float* s, float* tgt, float* lsum) {
    if (r.count() == 0) return;
    const int64_t nr = r.k.nr, d = r.p.d;
    const int64_t mb = std::clamp<int64_t>(kForwardPanelBytes / (4 * d) / nr * nr, nr, 512);
    const int64_t m_pad_max = round_up(std::min(mb, r.count()), nr);
    HostScratch panels(r.ctx, 4 * m_pad_max * d);
    std::vector<WorkerTiles> wt;
    std::vector<RunningStats> st;
    std::vector<HostScratch> rowbuf;  // gather buffer: one panel of rows per worker
    for (int w = 0; w < workers(r); ++w) {
        wt.emplace_back(r, m_pad_max, false);
        st.emplace_back(r.ctx, m_pad_max, lsum != nullptr);
        rowbuf.emplace_back(r.ctx, 4 * nr * row_stride(d));
    }
    for (int64_t begin = 0; begin < r.count(); begin += mb) {
        const Block b = block_at(r, begin, mb);
        r.ctx.pool->parallel_for(b.m_pad / nr, 1, [&](int64_t p0, int64_t p1, int w) {
            if (bf16_logits(r)) {
                pack_bf16_panels(r, b, p0, p1, panels.as<float>());
                return;
            }
            for (int64_t q = p0; q < p1; ++q) {
                gather_rows(r, b, q * nr, (q + 1) * nr, rowbuf[size_t(w)].as<float>());
                r.k.pack_token_panels(rowbuf[size_t(w)].as<float>(), row_stride(d), b.m_pad, d, q,
                                      q + 1, panels.as<float>());
            }
        });
        for (RunningStats& x : st) x.reset(b.m_pad);
        for_each_tile(r, [&](int w, Tile t) {
            WorkerTiles& x = wt[size_t(w)];
            float* zt = x.zt.as<float>();
            logits_into(r, x, t, logit_rows(r, t, x.ctile.as<float>()), panels.as<float>(), b, zt);
            stats_tile(r, x, st[size_t(w)], t, b, zt);
        });
        merge_stats(st, b, m, s, tgt, lsum);
    }
}

void grad_pass(CceRun& r, const float* lse, const float* up, const GradDest& dst,
               FilterCount& count) {
    if (r.count() == 0) return;
    const int64_t nr = r.k.nr, d = r.p.d;
    const int64_t m_pad_max = round_up(std::min(kGradBlockTokens, r.count()), nr);
    HostScratch rows(r.ctx, 4 * (m_pad_max * row_stride(d) + nr));
    HostScratch panels(r.ctx, 4 * m_pad_max * d);
    BlockCoefs co(r.ctx, m_pad_max);
    std::vector<WorkerTiles> wt;
    std::vector<WorkerGrads> wg;
    for (int w = 0; w < workers(r); ++w) {
        wt.emplace_back(r, m_pad_max, dst.grad_e != nullptr);
        wg.emplace_back(r, m_pad_max, dst.grad_e != nullptr);
    }
    for (int64_t begin = 0; begin < r.count(); begin += kGradBlockTokens) {
        const Block b = block_at(r, begin, kGradBlockTokens);
        prepare_block(r, b, rows.as<float>(), panels.as<float>());
        co.fill(r, b, lse, up);
        for (WorkerGrads& g : wg)
            if (dst.grad_e) std::memset(g.det.as<float>(), 0, g.det.bytes());
        for_each_tile(r, [&](int w, Tile t) {
            WorkerTiles& x = wt[size_t(w)];
            float* zt = x.zt.as<float>();
            const float* crow = logit_rows(r, t, x.ctile.as<float>());
            logits_into(r, x, t, crow, panels.as<float>(), b, zt);
            grad_tile(r, x, wg[size_t(w)], co, t, b, zt, crow, rows.as<float>(), dst, count);
        });
        if (dst.grad_e) write_grad_e(r, wg, b, dst);
    }
}

// Software-pipelined over chunks: while a worker holds a classifier tile in
// cache, it finishes chunk c's gradients for that tile and then computes
// chunk c+1's logits for it into the same region of the logits buffer. Every
// logit is computed once, C is read once per chunk, and the buffer holds one
// chunk's logits over the whole vocabulary.
void fused_pass(CceRun& r, const float* up, const GradDest& dst, FilterCount& count, float* m,
                float* s, float* tgt, float* lsum) {
    if (r.count() == 0) return;
    const int64_t nr = r.k.nr, d = r.p.d;
    const int64_t tiles = tile_count(r), tile_pad = round_up(kTileRows, r.k.mr);
    // Chunk logits: at most 4 MiB and at most 1/128 of the logit matrix the
    // naive method would hold, but never fewer than one token panel.
    // A caller's scratch budget (opts->scratch_bytes) sizes the chunk instead:
    // more tokens per chunk means fewer, larger-rank updates of dC.
    const int64_t budget = r.p.scratch_bytes > 0
                               ? int64_t(std::min<uint64_t>(r.p.scratch_bytes, uint64_t(1) << 40))
                               : std::min(kFusedLogitBytes, 4 * r.count() * r.p.v / 128);
    const int64_t by_budget = budget / (4 * tiles * tile_pad) / nr * nr;
    const int64_t mc = std::clamp<int64_t>(by_budget, nr, kFusedMaxTokens);
    const int64_t m_pad_max = round_up(std::min(mc, r.count()), nr);
    HostScratch logits(r.ctx, 4 * tiles * tile_pad * m_pad_max);
    HostScratch rows[2] = {HostScratch(r.ctx, 4 * (m_pad_max * row_stride(d) + nr)),
                           HostScratch(r.ctx, 4 * (m_pad_max * row_stride(d) + nr))};
    HostScratch panels[2] = {HostScratch(r.ctx, 4 * m_pad_max * d),
                             HostScratch(r.ctx, 4 * m_pad_max * d)};
    HostScratch lse(r.ctx, 4 * r.count());
    BlockCoefs co(r.ctx, m_pad_max);
    std::vector<WorkerTiles> wt;
    std::vector<WorkerGrads> wg;
    std::vector<RunningStats> st;
    for (int w = 0; w < workers(r); ++w) {
        wt.emplace_back(r, m_pad_max, dst.grad_e != nullptr);
        wg.emplace_back(r, m_pad_max, dst.grad_e != nullptr);
        st.emplace_back(r.ctx, m_pad_max, lsum != nullptr);
    }
    auto region = [&](Tile t) { return logits.as<float>() + t.index * tile_pad * m_pad_max; };
    // Statistics of a chunk whose logits are complete: lse and the
    // coefficients its gradient tiles need.
    auto finish_stats = [&](Block b) {
        merge_stats(st, b, m, s, tgt, lsum);
        for (int64_t i = 0; i < b.m; ++i)
            lse.as<float>()[b.begin + i] = lse_value(LseState{m[b.begin + i], s[b.begin + i]});
        co.fill(r, b, lse.as<float>(), up);
    };

    Block cur = block_at(r, 0, mc);
    prepare_block(r, cur, rows[0].as<float>(), panels[0].as<float>());
    for (RunningStats& x : st) x.reset(cur.m_pad);
    for_each_tile(r, [&](int w, Tile t) {
        WorkerTiles& x = wt[size_t(w)];
        logits_into(r, x, t, logit_rows(r, t, x.ctile.as<float>()), panels[0].as<float>(),
                    cur, region(t));
        stats_tile(r, x, st[size_t(w)], t, cur, region(t));
    });
    finish_stats(cur);

    for (int slot = 0;; slot ^= 1) {
        const bool more = cur.begin + cur.m < r.count();
        const Block next = more ? block_at(r, cur.begin + cur.m, mc) : Block{0, 0, 0};
        if (more) {
            prepare_block(r, next, rows[slot ^ 1].as<float>(), panels[slot ^ 1].as<float>());
            for (RunningStats& x : st) x.reset(next.m_pad);
        }
        for (WorkerGrads& g : wg)
            if (dst.grad_e) std::memset(g.det.as<float>(), 0, g.det.bytes());
        for_each_tile(r, [&](int w, Tile t) {
            WorkerTiles& x = wt[size_t(w)];
            const float* crow = logit_rows(r, t, x.ctile.as<float>());
            // The next chunk's logits first, into the worker's own tile: its
            // packing streams the classifier tile sequentially, which leaves
            // it in L2 for the strided reads of this chunk's dE product.
            if (more)
                logits_into(r, x, t, crow, panels[slot ^ 1].as<float>(), next, x.zt.as<float>());
            grad_tile(r, x, wg[size_t(w)], co, t, cur, region(t), crow, rows[slot].as<float>(),
                      dst, count);
            if (more) {
                std::memcpy(region(t), x.zt.as<float>(), sizeof(float) * size_t(tile_pad * next.m_pad));
                stats_tile(r, x, st[size_t(w)], t, next, region(t));
            }
        });
        if (dst.grad_e) write_grad_e(r, wg, cur, dst);
        if (!more) break;
        finish_stats(next);
        cur = next;
    }
}

}  // namespace engram::cpu
