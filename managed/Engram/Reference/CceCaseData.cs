namespace Engram.Reference;

/// <summary>
/// The data of a <see cref="CceCase"/>, drawn from its seed: E uniform in [-1, 1], C uniform scaled by
/// 2/√d (logits of order 1, so the softmax is neither flat nor one-hot), bias in [-0.5, 0.5], targets
/// uniform with the case's fraction set to ignore_index, upstream gradients in [0.5, 1.5].
/// </summary>
public sealed class CceCaseData
{
    private CceCaseData(CceCase c)
    {
        Case = c;
        var rng = new Random(c.Seed);
        double scale = 2 / Math.Sqrt(c.D);
        E = Uniform(rng, c.N * c.D, 1);
        C = Uniform(rng, c.V * c.D, scale);
        Bias = c.HasBias ? Uniform(rng, c.V, 0.5) : null;
        Targets = new long[c.N];
        int ignored = (int)Math.Round(c.IgnoredFraction * c.N);
        var order = Enumerable.Range(0, c.N).OrderBy(_ => rng.Next()).ToArray();
        for (int k = 0; k < c.N; k++)
            Targets[order[k]] = k < ignored ? c.Options.IgnoreIndex : rng.Next(c.V);
        GradLoss = Enumerable.Range(0, c.N).Select(_ => (float)(0.5 + rng.NextDouble())).ToArray();
        ShardBounds = Bounds(rng, c.V, c.Shards);
    }

    /// <summary>The case.</summary>
    public CceCase Case { get; }

    /// <summary>Hidden states [n, d].</summary>
    public double[] E { get; }

    /// <summary>Classifier [v, d].</summary>
    public double[] C { get; }

    /// <summary>Bias [v] or null.</summary>
    public double[]? Bias { get; }

    /// <summary>Targets [n].</summary>
    public long[] Targets { get; }

    /// <summary>Upstream gradients [n] (the first entry is used for Sum/Mean).</summary>
    public float[] GradLoss { get; }

    /// <summary>Shard boundaries 0 = b0 &lt; b1 &lt; ... &lt; b_shards = v.</summary>
    public int[] ShardBounds { get; }

    /// <summary>Draws the data of <paramref name="c"/>.</summary>
    public static CceCaseData Create(CceCase c) => new(c);

    private static double[] Uniform(Random rng, int count, double scale) =>
        Enumerable.Range(0, count).Select(_ => (rng.NextDouble() * 2 - 1) * scale).ToArray();

    private static int[] Bounds(Random rng, int v, int shards)
    {
        var cuts = Enumerable.Range(1, v - 1).OrderBy(_ => rng.Next()).Take(shards - 1).Order();
        return [0, .. cuts, v];
    }
}
