using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// A float64 model of a KV cache layer and dense attention over it, the reference of the attention
/// tests: every appended token of every KV head is remembered (already rounded to the storage dtype), and
/// a query at position p of a streaming head sees only positions {0..S_sink-1} ∪ (p-W, p] (StreamingLLM),
/// a retrieval head sees 0..p. So "streaming = dense restricted to sink + window".
/// </summary>
internal sealed class AttentionModel(int kvHeads, int headDim, EngramDType storage)
{
    private readonly List<double[]>[] _k = Enumerable.Range(0, kvHeads).Select(_ => new List<double[]>()).ToArray();
    private readonly List<double[]>[] _v = Enumerable.Range(0, kvHeads).Select(_ => new List<double[]>()).ToArray();

    public int Length => _k[0].Count;

    /// <summary>Rounds a float through the storage dtype.</summary>
    public static float Round(float x, EngramDType dtype) => dtype switch
    {
        EngramDType.F16 => (float)(Half)x,
        EngramDType.BF16 => BFloat16.FromSingle(x).ToSingle(),
        _ => x,
    };

    /// <summary>k, v [H_kv, tokens, D].</summary>
    public void Append(float[] k, float[] v, int tokens)
    {
        for (int h = 0; h < kvHeads; h++)
        for (int t = 0; t < tokens; t++)
        {
            _k[h].Add(Enumerable.Range(0, headDim).Select(d => (double)Round(k[(h * tokens + t) * headDim + d], storage)).ToArray());
            _v[h].Add(Enumerable.Range(0, headDim).Select(d => (double)Round(v[(h * tokens + t) * headDim + d], storage)).ToArray());
        }
    }

    /// <summary>Positions a head with <paramref name="policy"/> keeps when the newest position is <paramref name="last"/>.</summary>
    public static IEnumerable<int> Kept(KvHeadPolicy policy, int last, int sink, int window) =>
        Enumerable.Range(0, last + 1).Where(p => policy == KvHeadPolicy.Retrieval || p < sink || p > last - window);

    /// <summary>out [qHeads, D] of query q [qHeads, D] at position <paramref name="last"/>; also Σ|p·v| per entry (error scale).</summary>
    public (double[] Out, double[] Magnitude) Attend(float[] q, int qHeads, int last, Func<int, KvHeadPolicy> policy,
        int sink, int window, double scale)
    {
        var output = new double[qHeads * headDim];
        var mag = new double[qHeads * headDim];
        int group = qHeads / kvHeads;
        for (int qh = 0; qh < qHeads; qh++)
        {
            int h = qh / group;
            var kept = Kept(policy(h), last, sink, window).ToArray();
            var s = kept.Select(p => scale * Enumerable.Range(0, headDim).Sum(d => (double)q[qh * headDim + d] * _k[h][p][d])).ToArray();
            double m = s.Max();
            var w = s.Select(x => Math.Exp(x - m)).ToArray();
            double z = w.Sum();
            for (int d = 0; d < headDim; d++)
            {
                for (int i = 0; i < kept.Length; i++)
                {
                    output[qh * headDim + d] += w[i] / z * _v[h][kept[i]][d];
                    mag[qh * headDim + d] += w[i] / z * Math.Abs(_v[h][kept[i]][d]);
                }
            }
        }
        return (output, mag);
    }
}
