using ILGPU;
using ILGPU.Algorithms;

namespace Engram.Ops;

/// <summary>Scalars of one CCE launch (a value-type kernel parameter).</summary>
internal struct CceKernelParams
{
    public int N;
    public int D;
    public int V;
    public int HasBias;
    public int WantGradC;
    public float Softcap;
    public float Smoothing;
    public float ZLoss;
    public float InvVocab;
    public float FilterEps;
}

/// <summary>An online log-sum-exp state: S = sum exp(x - shift(M)) over the values x seen, M their maximum.</summary>
internal readonly struct LseState
{
    public readonly float M;
    public readonly float S;

    public LseState(float m, float s)
    {
        M = m;
        S = s;
    }
}

/// <summary>
/// CCE as ILGPU kernels: the fallback for machines with a GPU but no CUDA build of libengram. Same
/// arithmetic as native/src/shared/cce_math.h, in fp32. Column/target encoding per token (computed on
/// the host when the targets are checked): col[i] = -2 ignored token, -1 target in another shard,
/// otherwise the target's column in this shard.
///
/// Parallel layout, chosen so that no kernel needs atomics (deterministic results, and no float or
/// 64-bit atomics, which many OpenCL devices lack):
///  - Forward: one group per token; each thread sweeps columns j = tid, tid + G, ... with its own online
///    log-sum-exp, then the group merges the partial states in shared memory (tree reduction).
///  - dE: one group per token; per block of G columns the threads compute the G logit gradients into
///    shared memory, then each thread owns hidden units k = tid, tid + G, ... of the token's dE row.
///  - dC / dBias: one group per classifier row, the same with blocks of G tokens.
/// The price is that the backward recomputes every logit twice (once per kernel); the native CUDA backend
/// is the fast path.
/// </summary>
internal static class IlgpuCceKernels
{
    /// <summary>Largest group size the kernels are written for (shared arrays are this long).</summary>
    public const int MaxGroupSize = 256;

    public const int Ignored = -2;

    private static float Logit(ArrayView<float> e, ArrayView<float> c, ArrayView<float> bias, int i, int j,
        CceKernelParams p)
    {
        long eo = (long)i * p.D, co = (long)j * p.D;
        float acc = 0f;
        for (int k = 0; k < p.D; k++) acc += e[eo + k] * c[co + k];
        if (p.HasBias != 0) acc += bias[j];
        return p.Softcap > 0f ? p.Softcap * Tanh(acc / p.Softcap) : acc;
    }

    // tanh with tanh(+-inf) = +-1 and tanh(NaN) = NaN on every accelerator. Some backends compute
    // tanh from exp(2x) (inf / inf = NaN for large |x|); in fp32 tanh(x) rounds to +-1 for |x| >= 9.1,
    // so returning +-1 from |x| >= 10 on is exact.
    private static float Tanh(float x)
    {
        if (x >= 10f) return 1f;
        if (x <= -10f) return -1f;
        return XMath.Tanh(x); // NaN stays NaN
    }

    // --- Online log-sum-exp, as native/src/shared/cce_math.h (torch.logsumexp for non-finite values).
    // A state {m, s} holds s = sum exp(x - Shift(m)) over the values x seen, m their maximum; the shift
    // is m when finite and 0 otherwise, so that exp never computes inf - inf. A NaN makes s NaN for good,
    // a +inf makes s (hence the lse) +inf, and only -inf values give s = 0 and lse = -inf.

    private static bool IsFinite(float x) => XMath.Abs(x) < float.PositiveInfinity; // false for NaN

    private static float LseShift(float m) => IsFinite(m) ? m : 0f;

    // s rescaled from the shift of maximum m to `shift`: an empty sum stays 0 (never 0 * inf), NaN stays NaN.
    private static float LseRescale(float s, float m, float shift) =>
        s == 0f ? 0f : s * XMath.Exp(LseShift(m) - shift);

    // The maximum of two states' maxima, NaN-propagating.
    private static float LseMergeMax(float ma, float mb) => ma > mb || XMath.IsNaN(ma) ? ma : mb;

    private static float LseMergeSum(float ma, float sa, float mb, float sb, float m)
    {
        float shift = LseShift(m);
        return LseRescale(sa, ma, shift) + LseRescale(sb, mb, shift);
    }

    private static float LseValue(float m, float s) => LseShift(m) + XMath.Log(s);

    // The state after adding one value z to {m, s}: the same as merging with {z, exp(z - Shift(z))}.
    private static LseState LseAdd(LseState st, float z)
    {
        if (z > st.M || XMath.IsNaN(z))
        {
            float shift = LseShift(z);
            return new LseState(z, LseRescale(st.S, st.M, shift) + XMath.Exp(z - shift));
        }
        return new LseState(st.M, st.S + XMath.Exp(z - LseShift(st.M)));
    }

    // Per-token loss from the reduced quantities (cce_token_loss): the smoothing and z-loss terms are
    // absent, not multiplied by 0, when off (0 * inf would be NaN).
    private static float TokenLoss(float lse, float targetLogit, float logitSum, CceKernelParams p)
    {
        float loss = lse - (1f - p.Smoothing) * targetLogit;
        if (p.Smoothing > 0f) loss -= p.Smoothing * logitSum * p.InvVocab;
        if (p.ZLoss > 0f) loss += p.ZLoss * lse * lse;
        return loss;
    }

    // dloss/dz before the upstream gradient and the softcap chain rule (cce_logit_grad). The z-loss
    // factor is absent when z_loss is 0: with an infinite lse, 0 * inf would make every gradient NaN.
    private static float RawGrad(float z, float lse, bool isTarget, CceKernelParams p)
    {
        float scale = p.ZLoss > 0f ? 1f + 2f * p.ZLoss * lse : 1f;
        float g = XMath.Exp(z - lse) * scale - p.Smoothing * p.InvVocab;
        if (isTarget) g -= 1f - p.Smoothing;
        return g;
    }

    // The gradient filter: an entry is dropped only when filtering is on, |dloss/dz| < eps (false for
    // NaN) and the token's upstream gradient is finite (a NaN or inf upstream must reach the output).
    private static bool Filtered(float raw, float up, CceKernelParams p) =>
        p.FilterEps > 0f && XMath.Abs(raw) < p.FilterEps && IsFinite(up);

    private static float SoftcapGrad(float z, CceKernelParams p)
    {
        if (p.Softcap <= 0f) return 1f;
        float t = z / p.Softcap;
        return 1f - t * t;
    }

    /// <summary>
    /// Per token i (one group each): stats[i] = lse, stats[n + i] = target logit (0 if in another shard),
    /// stats[2n + i] = sum of logits, stats[3n + i] = token loss; all 0 for ignored tokens.
    /// </summary>
    public static void Forward(ArrayView<float> e, ArrayView<float> c, ArrayView<float> bias, ArrayView<int> col,
        ArrayView<float> stats, CceKernelParams p)
    {
        int i = Grid.IdxX;
        int tid = Group.IdxX;
        int groupSize = Group.DimX;
        var sMax = SharedMemory.Allocate<float>(MaxGroupSize);
        var sSum = SharedMemory.Allocate<float>(MaxGroupSize);
        var sLogits = SharedMemory.Allocate<float>(MaxGroupSize);
        var sTarget = SharedMemory.Allocate<float>(MaxGroupSize);
        int target = col[i];
        if (target == Ignored)
        {
            if (tid == 0)
                for (int q = 0; q < 4; q++) stats[(long)q * p.N + i] = 0f;
            return; // uniform across the group: no barrier is left waiting
        }

        var st = new LseState(float.NegativeInfinity, 0f);
        float logitSum = 0f, zt = 0f;
        for (int j = tid; j < p.V; j += groupSize)
        {
            float z = Logit(e, c, bias, i, j, p);
            st = LseAdd(st, z);
            logitSum += z;
            if (j == target) zt = z;
        }
        sMax[tid] = st.M;
        sSum[tid] = st.S;
        sLogits[tid] = logitSum;
        sTarget[tid] = zt;
        Group.Barrier();

        for (int stride = groupSize / 2; stride > 0; stride /= 2)
        {
            if (tid < stride)
            {
                float ma = sMax[tid], mb = sMax[tid + stride];
                float mm = LseMergeMax(ma, mb);
                sSum[tid] = LseMergeSum(ma, sSum[tid], mb, sSum[tid + stride], mm);
                sMax[tid] = mm;
                sLogits[tid] += sLogits[tid + stride];
                sTarget[tid] += sTarget[tid + stride];
            }
            Group.Barrier();
        }

        if (tid == 0)
        {
            float lse = LseValue(sMax[0], sSum[0]);
            float ztot = sTarget[0], sumz = sLogits[0];
            stats[i] = lse;
            stats[(long)p.N + i] = ztot;
            stats[2L * p.N + i] = sumz;
            stats[3L * p.N + i] = TokenLoss(lse, ztot, sumz, p);
        }
    }

    /// <summary>
    /// dE row of token i (one group each), accumulated in fp32 into gradE (zeroed by the caller).
    /// counts[i] = logits visited, counts[n + i] = logits skipped by the filter (summed on the host: no
    /// 64-bit atomics, which some OpenCL devices lack).
    /// </summary>
    public static void GradE(ArrayView<float> e, ArrayView<float> c, ArrayView<float> bias, ArrayView<int> col,
        ArrayView<float> lse, ArrayView<float> upstream, ArrayView<float> gradE, ArrayView<int> counts,
        CceKernelParams p)
    {
        int i = Grid.IdxX;
        int tid = Group.IdxX;
        int groupSize = Group.DimX;
        var sGrad = SharedMemory.Allocate<float>(MaxGroupSize);
        var sKeep = SharedMemory.Allocate<int>(MaxGroupSize);
        var sVisited = SharedMemory.Allocate<int>(MaxGroupSize);
        var sSkipped = SharedMemory.Allocate<int>(MaxGroupSize);
        int target = col[i];
        if (target == Ignored)
        {
            if (tid == 0)
            {
                counts[i] = 0;
                counts[p.N + i] = 0;
            }
            return; // uniform across the group
        }
        float tokenLse = lse[i], up = upstream[i];
        int skipped = 0, visited = 0;
        long rowOffset = (long)i * p.D;
        for (int j0 = 0; j0 < p.V; j0 += groupSize)
        {
            int j = j0 + tid;
            float g = 0f;
            int keep = 0;
            if (j < p.V)
            {
                float z = Logit(e, c, bias, i, j, p);
                float raw = RawGrad(z, tokenLse, j == target, p);
                visited++;
                if (Filtered(raw, up, p))
                {
                    skipped++;
                }
                else
                {
                    g = raw * (up * SoftcapGrad(z, p));
                    keep = 1;
                }
            }
            sGrad[tid] = g;
            sKeep[tid] = keep;
            Group.Barrier();
            int count = XMath.Min(groupSize, p.V - j0);
            for (int k = tid; k < p.D; k += groupSize)
            {
                float acc = 0f;
                // A dropped entry adds nothing (not 0 * c, which is NaN for a non-finite c).
                for (int q = 0; q < count; q++)
                    if (sKeep[q] != 0) acc += sGrad[q] * c[(long)(j0 + q) * p.D + k];
                gradE[rowOffset + k] += acc;
            }
            Group.Barrier();
        }
        sVisited[tid] = visited;
        sSkipped[tid] = skipped;
        Group.Barrier();
        for (int stride = groupSize / 2; stride > 0; stride /= 2)
        {
            if (tid < stride)
            {
                sVisited[tid] += sVisited[tid + stride];
                sSkipped[tid] += sSkipped[tid + stride];
            }
            Group.Barrier();
        }
        if (tid == 0)
        {
            counts[i] = sVisited[0];
            counts[p.N + i] = sSkipped[0];
        }
    }

    /// <summary>
    /// dC row and dBias entry of classifier row j (one group each), fp32, into zeroed buffers. dC is
    /// written only when p.WantGradC is set (dBias alone needs no dC traffic).
    /// </summary>
    public static void GradC(ArrayView<float> e, ArrayView<float> c, ArrayView<float> bias, ArrayView<int> col,
        ArrayView<float> lse, ArrayView<float> upstream, ArrayView<float> gradC, ArrayView<float> gradBias,
        CceKernelParams p)
    {
        int j = Grid.IdxX;
        int tid = Group.IdxX;
        int groupSize = Group.DimX;
        var sGrad = SharedMemory.Allocate<float>(MaxGroupSize);
        var sKeep = SharedMemory.Allocate<int>(MaxGroupSize);
        long rowOffset = (long)j * p.D;
        float biasAcc = 0f;
        for (int i0 = 0; i0 < p.N; i0 += groupSize)
        {
            int i = i0 + tid;
            float g = 0f;
            int keep = 0;
            if (i < p.N)
            {
                int target = col[i];
                if (target != Ignored)
                {
                    float z = Logit(e, c, bias, i, j, p);
                    float up = upstream[i];
                    float raw = RawGrad(z, lse[i], j == target, p);
                    if (!Filtered(raw, up, p))
                    {
                        g = raw * (up * SoftcapGrad(z, p));
                        keep = 1;
                    }
                }
            }
            sGrad[tid] = g;
            sKeep[tid] = keep;
            Group.Barrier();
            int count = XMath.Min(groupSize, p.N - i0);
            if (p.WantGradC != 0)
            {
                for (int k = tid; k < p.D; k += groupSize)
                {
                    float acc = 0f;
                    // Ignored tokens and dropped entries add nothing (not 0 * e, NaN for a non-finite e).
                    for (int q = 0; q < count; q++)
                        if (sKeep[q] != 0) acc += sGrad[q] * e[(long)(i0 + q) * p.D + k];
                    gradC[rowOffset + k] += acc;
                }
            }
            if (tid == 0)
                for (int q = 0; q < count; q++) biasAcc += sGrad[q];
            Group.Barrier();
        }
        if (tid == 0 && p.HasBias != 0) gradBias[j] = biasAcc;
    }

    /// <summary>
    /// Shard combine, one thread per token: merges numShards partial lse values (shardLse [shards, n])
    /// into the global lse and the exact token loss. out[i] = loss, out[n + i] = lse; 0 for ignored.
    /// </summary>
    public static void Combine(Index1D i, ArrayView<float> shardLse, ArrayView<float> targetLogit,
        ArrayView<float> logitSum, ArrayView<int> valid, ArrayView<float> output, int numShards, CceKernelParams p)
    {
        float loss = 0f, lse = 0f;
        if (valid[i] != 0)
        {
            // Each shard's lse x enters as the state {x, exp(x - Shift(x))}: 1 for finite x, +inf for +inf,
            // 0 for -inf (an empty contribution), NaN for NaN.
            var st = new LseState(float.NegativeInfinity, 0f);
            for (int k = 0; k < numShards; k++) st = LseAdd(st, shardLse[(long)k * p.N + i]);
            lse = LseValue(st.M, st.S);
            // logitSum is a 1-element placeholder when smoothing is off: read it only when used.
            loss = TokenLoss(lse, targetLogit[i], p.Smoothing > 0f ? logitSum[i] : 0f, p);
        }
        output[i] = loss;
        output[(long)p.N + i] = lse;
    }
}
