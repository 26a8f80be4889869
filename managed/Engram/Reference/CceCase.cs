using Engram.Ops;

namespace Engram.Reference;

/// <summary>Which CCE entry points a verification case exercises.</summary>
public enum CceCaseKind
{
    /// <summary>Forward: loss and lse.</summary>
    Forward,
    /// <summary>Backward: dE, dC, dBias (with or without the forward's lse).</summary>
    Backward,
    /// <summary>ForwardBackward: loss, lse and gradients in one call.</summary>
    ForwardBackward,
    /// <summary>Vocabulary shards: ShardForward on each, ShardCombine, then each shard's Backward.</summary>
    Shard,
}

/// <summary>One randomised CCE verification case; the data is generated from <see cref="Seed"/>.</summary>
public sealed record CceCase(
    CceCaseKind Kind,
    int N,
    int D,
    int V,
    EngramDType DType,
    EngramDType TargetDType,
    bool GradsInInputType,
    bool HasBias,
    double IgnoredFraction,
    int Shards,
    bool PassLse,
    bool PassGradLoss,
    CceOptions Options,
    int Seed)
{
    /// <summary>A one-line description for tables, e.g. "forward n=7 d=13 v=31 bf16 i64 bias sum softcap=5".</summary>
    public string Describe()
    {
        var parts = new List<string>
        {
            Kind switch
            {
                CceCaseKind.Forward => "forward",
                CceCaseKind.Backward => "backward",
                CceCaseKind.ForwardBackward => "fwd+bwd",
                _ => $"shard x{Shards}",
            },
            $"n={N} d={D} v={V}",
            DTypes.Name(DType) + "/" + DTypes.Name(TargetDType),
            Options.Reduction.ToString().ToLowerInvariant(),
        };
        if (HasBias) parts.Add("bias");
        if (IgnoredFraction > 0) parts.Add($"ign={IgnoredFraction:0.##}");
        if (Options.Softcap > 0) parts.Add($"cap={Options.Softcap:0.#}");
        if (Options.LabelSmoothing > 0) parts.Add($"ls={Options.LabelSmoothing:0.##}");
        if (Options.ZLoss > 0) parts.Add($"z={Options.ZLoss:0.####}");
        if (Options.FilterEps != 0 && Kind != CceCaseKind.Forward)
            parts.Add(Options.FilterEps < 0 ? "filter=auto" : $"filter={Options.FilterEps:0.#####}");
        if (Kind != CceCaseKind.Forward && GradsInInputType && DType != EngramDType.F32) parts.Add("grad=" + DTypes.Name(DType));
        return string.Join(' ', parts);
    }
}

/// <summary>Limits of generated shapes (ILGPU's CPU simulator needs tiny ones).</summary>
/// <param name="MaxN">Largest token count.</param>
/// <param name="MaxD">Largest hidden size.</param>
/// <param name="MaxV">Largest vocabulary.</param>
public sealed record CceCaseLimits(int MaxN, int MaxD, int MaxV)
{
    /// <summary>For the ILGPU CPU accelerator: N ≤ 8, D ≤ 16, V ≤ 40.</summary>
    public static CceCaseLimits Tiny { get; } = new(8, 16, 40);

    /// <summary>For libengram and GPUs: a few hundred rows, vocabularies past a typical block.</summary>
    public static CceCaseLimits Normal { get; } = new(129, 130, 2053);
}

/// <summary>Random awkward cases: N = 1, primes, V smaller than a block, odd D, many ignored targets.</summary>
public static class CceCaseGenerator
{
    // (n, d, v): 1s, primes, sizes just past powers of two, V below any block size, D odd.
    private static readonly (int N, int D, int V)[] s_shapes =
    [
        (1, 1, 1), (1, 5, 2), (2, 3, 7), (3, 1, 40), (5, 16, 37), (8, 13, 40), (7, 9, 31), (1, 16, 17),
        (6, 11, 33), (4, 7, 3),
        (13, 17, 97), (31, 33, 257), (17, 64, 509), (64, 31, 1031), (3, 130, 263), (97, 7, 300), (1, 129, 5),
        (47, 65, 129), (129, 96, 2053),
    ];

    /// <summary><paramref name="count"/> cases from <paramref name="seed"/>, cycling through every kind.</summary>
    public static IReadOnlyList<CceCase> Random(int seed, int count, CceCaseLimits limits)
    {
        var rng = new Random(seed);
        var shapes = s_shapes.Where(s => s.N <= limits.MaxN && s.D <= limits.MaxD && s.V <= limits.MaxV).ToArray();
        var kinds = Enum.GetValues<CceCaseKind>();
        var cases = new List<CceCase>(count);
        for (int k = 0; k < count; k++)
        {
            var kind = kinds[k % kinds.Length];
            var (n, d, v) = shapes[(k / kinds.Length + rng.Next(shapes.Length)) % shapes.Length];
            if (kind == CceCaseKind.Shard && v < 2) v = 2;
            cases.Add(Make(rng, kind, n, d, v));
        }
        return cases;
    }

    private static CceCase Make(Random rng, CceCaseKind kind, int n, int d, int v)
    {
        var dtype = rng.Next(4) switch { 0 => EngramDType.F16, 1 => EngramDType.BF16, _ => EngramDType.F32 };
        var options = new CceOptions
        {
            Reduction = (CceReduction)rng.Next(3),
            IgnoreIndex = rng.Next(5) == 0 ? -1 : -100,
            Softcap = rng.Next(2) == 0 ? 0 : (float)Math.Round(2 + rng.NextDouble() * 28, 1),
            LabelSmoothing = rng.Next(3) == 0 ? 0.1f : 0,
            ZLoss = rng.Next(3) == 0 ? 1e-3f : 0,
            FilterEps = rng.Next(3) switch { 0 => 0, 1 => CceOptions.AutoFilterEps, _ => 1e-4f },
        };
        double ignored = rng.Next(10) switch { < 5 => 0, < 7 => 0.3, < 9 => 0.9, _ => 1.0 };
        if (n == 1 && ignored < 1) ignored = 0;
        int shards = kind == CceCaseKind.Shard ? Math.Min(v, 2 + rng.Next(2)) : 1;
        return new CceCase(kind, n, d, v, dtype, rng.Next(2) == 0 ? EngramDType.I32 : EngramDType.I64,
            rng.Next(2) == 0, rng.Next(2) == 0, ignored, shards, rng.Next(2) == 0, rng.Next(2) == 0, options,
            rng.Next());
    }
}
