using ILGPU;
using ILGPU.Algorithms;

namespace Engram.Ops;

/// <summary>Scalars of one decode launch.</summary>
internal struct AttentionKernelParams
{
    public int QHeads;
    public int Group;       // query heads per KV head
    public int D;
    public int MaxTokens;   // the longest kept-token list of the layer's KV heads
    public float Scale;
}

/// <summary>
/// Decode attention as ILGPU kernels, in two launches so that no kernel needs shared memory or atomics:
/// <see cref="Scores"/> (one thread per query head and kept token) writes scale·q·k; <see cref="Output"/>
/// (one thread per query head and output column) takes the softmax over its head's scores, max first
/// (NaN-propagating, as PyTorch's softmax), and sums the weighted values in token order.
/// Kept tokens of KV head h lie at rows offsets[h] .. offsets[h] + counts[h] of keys/values [*, D].
/// </summary>
internal static class IlgpuAttentionKernels
{
    public static void Scores(Index2D index, ArrayView<float> q, ArrayView<float> keys, ArrayView<int> offsets,
        ArrayView<int> counts, ArrayView<float> scores, AttentionKernelParams p)
    {
        int qh = index.X, t = index.Y;
        int h = qh / p.Group;
        if (t >= counts[h]) return;
        long ko = (long)(offsets[h] + t) * p.D, qo = (long)qh * p.D;
        float acc = 0f;
        for (int d = 0; d < p.D; d++) acc += q[qo + d] * keys[ko + d];
        scores[(long)qh * p.MaxTokens + t] = p.Scale * acc;
    }

    public static void Output(Index1D index, ArrayView<float> scores, ArrayView<float> values, ArrayView<int> offsets,
        ArrayView<int> counts, ArrayView<float> output, AttentionKernelParams p)
    {
        int qh = index / p.D, d = index % p.D;
        int h = qh / p.Group;
        int n = counts[h];
        long so = (long)qh * p.MaxTokens;
        float m = float.NegativeInfinity;
        for (int t = 0; t < n; t++)
        {
            float s = scores[so + t];
            if (s > m || float.IsNaN(s)) m = s; // once NaN, m stays NaN (no s compares greater)
            if (float.IsNaN(m)) break;
        }
        float denom = 0f, acc = 0f;
        for (int t = 0; t < n; t++)
        {
            float w = XMath.Exp(scores[so + t] - m); // all -inf or a +inf score: -inf - -inf or inf - inf = NaN
            denom += w;
            acc += w * values[(long)(offsets[h] + t) * p.D + d];
        }
        output[index] = acc / denom;
    }
}
