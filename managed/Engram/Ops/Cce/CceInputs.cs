
using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// Host inputs of a CCE call: hidden states <see cref="E"/> [n, d], classifier rows <see cref="C"/>
/// [v, d], optional <see cref="Bias"/> [v] (empty = none) and <see cref="Targets"/> [n] (global ids),
/// row-major. <typeparamref name="T"/> is float, Half or BFloat16; <typeparamref name="TTarget"/> int or long.
/// </summary>
public readonly ref struct CceInputs<T, TTarget>
    where T : unmanaged
    where TTarget : unmanaged
{
    /// <summary>Describes the inputs; span lengths are checked when an op is called, everything else by libengram.</summary>
    public CceInputs(CceShape shape, ReadOnlySpan<T> e, ReadOnlySpan<T> c, ReadOnlySpan<TTarget> targets,
        ReadOnlySpan<T> bias = default)
    {
        Shape = shape;
        E = e;
        C = c;
        Targets = targets;
        Bias = bias;
    }

    /// <summary>n, d, v and the vocabulary shard.</summary>
    public CceShape Shape { get; }

    /// <summary>Hidden states [n, d].</summary>
    public ReadOnlySpan<T> E { get; }

    /// <summary>Classifier rows [v, d].</summary>
    public ReadOnlySpan<T> C { get; }

    /// <summary>Bias [v], or empty for none.</summary>
    public ReadOnlySpan<T> Bias { get; }

    /// <summary>Target ids [n]; ignore_index marks tokens to skip.</summary>
    public ReadOnlySpan<TTarget> Targets { get; }

    internal CceHostProblem Check()
    {
        var dtype = DTypes.OfFloat<T>(nameof(E));
        var targetDType = DTypes.OfTarget<TTarget>(nameof(Targets));
        CceChecks.Length(E.Length, CceChecks.Elements(Shape.N, Shape.D), "e", "n·d");
        CceChecks.Length(C.Length, CceChecks.Elements(Shape.V, Shape.D), "c", "v·d");
        CceChecks.Length(Targets.Length, CceChecks.Elements(Shape.N), "targets", "n");
        CceChecks.Optional(Bias.Length, CceChecks.Elements(Shape.V), "bias", "v (or empty for no bias)");
        return new CceHostProblem(Shape, dtype, targetDType, MemoryMarshal.AsBytes(E), MemoryMarshal.AsBytes(C),
            MemoryMarshal.AsBytes(Bias), MemoryMarshal.AsBytes(Targets));
    }
}

/// <summary>
/// Host gradient outputs of a CCE backward: each of <see cref="E"/> [n, d], <see cref="C"/> [v, d],
/// <see cref="Bias"/> [v] may be empty to skip it; at least one must be given. Overwritten, not
/// accumulated. <typeparamref name="TGrad"/> is float or the inputs' element type.
/// </summary>
public readonly ref struct CceGrads<TGrad> where TGrad : unmanaged
{
    /// <summary>Describes the gradient outputs.</summary>
    public CceGrads(Span<TGrad> e = default, Span<TGrad> c = default, Span<TGrad> bias = default)
    {
        E = e;
        C = c;
        Bias = bias;
    }

    /// <summary>dLoss/dE [n, d], or empty.</summary>
    public Span<TGrad> E { get; }

    /// <summary>dLoss/dC [v, d], or empty.</summary>
    public Span<TGrad> C { get; }

    /// <summary>dLoss/dBias [v], or empty.</summary>
    public Span<TGrad> Bias { get; }

    internal CceHostGrads Check(in CceHostProblem p)
    {
        var dtype = DTypes.OfFloat<TGrad>("grads");
        CceChecks.Optional(E.Length, CceChecks.Elements(p.Shape.N, p.Shape.D), "grads.E", "n·d");
        CceChecks.Optional(C.Length, CceChecks.Elements(p.Shape.V, p.Shape.D), "grads.C", "v·d");
        CceChecks.Optional(Bias.Length, CceChecks.Elements(p.Shape.V), "grads.Bias", "v");
        return new CceHostGrads(dtype, MemoryMarshal.AsBytes(E), MemoryMarshal.AsBytes(C), MemoryMarshal.AsBytes(Bias));
    }
}
