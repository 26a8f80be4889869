using ILGPU;
using ILGPU.Algorithms;

namespace Engram.Ilgpu;

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
        return p.Softcap > 0f ? p.Softcap * XMath.Tanh(acc / p.Softcap) : acc;
    }

    // dloss/dz before the upstream gradient and the softcap chain rule (cce_logit_grad).
    private static float RawGrad(float z, float lse, bool isTarget, CceKernelParams p)
    {
        float g = XMath.Exp(z - lse) * (1f + 2f * p.ZLoss * lse) - p.Smoothing * p.InvVocab;
        if (isTarget) g -= 1f - p.Smoothing;
        return g;
    }

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

        float m = float.NegativeInfinity, s = 0f, logitSum = 0f, zt = 0f;
        for (int j = tid; j < p.V; j += groupSize)
        {
            float z = Logit(e, c, bias, i, j, p);
            if (z > m)
            {
                s = s * XMath.Exp(m - z) + 1f;
                m = z;
            }
            else
            {
                s += XMath.Exp(z - m);
            }
            logitSum += z;
            if (j == target) zt = z;
        }
        sMax[tid] = m;
        sSum[tid] = s;
        sLogits[tid] = logitSum;
        sTarget[tid] = zt;
        Group.Barrier();

        for (int stride = groupSize / 2; stride > 0; stride /= 2)
        {
            if (tid < stride)
            {
                float ma = sMax[tid], mb = sMax[tid + stride];
                float sa = sSum[tid], sb = sSum[tid + stride];
                if (ma < mb)
                {
                    float t = ma; ma = mb; mb = t;
                    t = sa; sa = sb; sb = t;
                }
                if (mb != float.NegativeInfinity) sa += sb * XMath.Exp(mb - ma);
                sMax[tid] = ma;
                sSum[tid] = sa;
                sLogits[tid] += sLogits[tid + stride];
                sTarget[tid] += sTarget[tid + stride];
            }
            Group.Barrier();
        }

        if (tid == 0)
        {
            float lse = sMax[0] + XMath.Log(sSum[0]);
            float ztot = sTarget[0], sumz = sLogits[0];
            float loss = lse - (1f - p.Smoothing) * ztot;
            if (p.Smoothing > 0f) loss -= p.Smoothing * sumz * p.InvVocab;
            if (p.ZLoss > 0f) loss += p.ZLoss * lse * lse;
            stats[i] = lse;
            stats[(long)p.N + i] = ztot;
            stats[2L * p.N + i] = sumz;
            stats[3L * p.N + i] = loss;
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
            if (j < p.V)
            {
                float z = Logit(e, c, bias, i, j, p);
                float raw = RawGrad(z, tokenLse, j == target, p);
                visited++;
                if (XMath.Abs(raw) < p.FilterEps) skipped++;
                else g = raw * up * SoftcapGrad(z, p);
            }
            sGrad[tid] = g;
            Group.Barrier();
            int count = XMath.Min(groupSize, p.V - j0);
            for (int k = tid; k < p.D; k += groupSize)
            {
                float acc = 0f;
                for (int q = 0; q < count; q++) acc += sGrad[q] * c[(long)(j0 + q) * p.D + k];
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
        long rowOffset = (long)j * p.D;
        float biasAcc = 0f;
        for (int i0 = 0; i0 < p.N; i0 += groupSize)
        {
            int i = i0 + tid;
            float g = 0f;
            if (i < p.N)
            {
                int target = col[i];
                if (target != Ignored)
                {
                    float z = Logit(e, c, bias, i, j, p);
                    float raw = RawGrad(z, lse[i], j == target, p);
                    if (!(XMath.Abs(raw) < p.FilterEps)) g = raw * upstream[i] * SoftcapGrad(z, p);
                }
            }
            sGrad[tid] = g;
            Group.Barrier();
            int count = XMath.Min(groupSize, p.N - i0);
            if (p.WantGradC != 0)
            {
                for (int k = tid; k < p.D; k += groupSize)
                {
                    float acc = 0f;
                    for (int q = 0; q < count; q++) acc += sGrad[q] * e[(long)(i0 + q) * p.D + k];
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
            float m = float.NegativeInfinity, s = 0f;
            for (int k = 0; k < numShards; k++)
            {
                float x = shardLse[(long)k * p.N + i];
                if (x > m)
                {
                    s = s * XMath.Exp(m - x) + 1f;
                    m = x;
                }
                else
                {
                    s += XMath.Exp(x - m);
                }
            }
            lse = m + XMath.Log(s);
            loss = lse - (1f - p.Smoothing) * targetLogit[i];
            if (p.Smoothing > 0f) loss -= p.Smoothing * logitSum[i] * p.InvVocab;
            if (p.ZLoss > 0f) loss += p.ZLoss * lse * lse;
        }
        output[i] = loss;
        output[(long)p.N + i] = lse;
    }
}
