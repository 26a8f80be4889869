using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// Host inputs of a linear scan: <see cref="Q"/>, <see cref="K"/> [B, T, Hk, K], <see cref="V"/>
/// [B, T, H, V] of one element type <typeparamref name="T"/> (float, Half or BFloat16), the fp32
/// log-decay <see cref="G"/> of the <see cref="Gate"/> (empty for <see cref="ScanGate.None"/>) and an
/// optional fp32 <see cref="InitialState"/> [B, H, K, V] (empty = zeros).
/// </summary>
public readonly ref struct ScanInputs<T> where T : unmanaged
{
    /// <summary>Describes the inputs; span lengths are checked when an op is called, everything else by libengram.</summary>
    public ScanInputs(ScanShape shape, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v,
        ScanGate gate = ScanGate.None, ReadOnlySpan<float> g = default, ReadOnlySpan<float> initialState = default)
    {
        Shape = shape;
        Q = q;
        K = k;
        V = v;
        Gate = gate;
        G = g;
        InitialState = initialState;
    }

    /// <summary>B, T, H, Hk, K, V.</summary>
    public ScanShape Shape { get; }

    /// <summary>Queries [B, T, Hk, K].</summary>
    public ReadOnlySpan<T> Q { get; }

    /// <summary>Keys [B, T, Hk, K].</summary>
    public ReadOnlySpan<T> K { get; }

    /// <summary>Values [B, T, H, V].</summary>
    public ReadOnlySpan<T> V { get; }

    /// <summary>The decay gate.</summary>
    public ScanGate Gate { get; }

    /// <summary>Log-decay: [B, T, H] (scalar), [B, T, H, K] (vector), empty for none.</summary>
    public ReadOnlySpan<float> G { get; }

    /// <summary>State before the first token [B, H, K, V], or empty for zeros.</summary>
    public ReadOnlySpan<float> InitialState { get; }

    internal ScanHostProblem Check()
    {
        var dtype = DTypes.OfFloat<T>(nameof(Q));
        ScanChecks.Length(Q.Length, ScanChecks.Qk(Shape), "q", "B·T·Hk·K");
        ScanChecks.Length(K.Length, ScanChecks.Qk(Shape), "k", "B·T·Hk·K");
        ScanChecks.Length(V.Length, ScanChecks.Values(Shape), "v", "B·T·H·V");
        if (Gate is ScanGate.Scalar or ScanGate.Vector)
            ScanChecks.Length(G.Length, ScanChecks.Gate(Shape, Gate), "g", ScanChecks.GateWhat(Gate));
        ScanChecks.Optional(InitialState.Length, ScanChecks.State(Shape), "initialState", "B·H·K·V (or empty for zeros)");
        return new ScanHostProblem(Shape, dtype, Gate, MemoryMarshal.AsBytes(Q), MemoryMarshal.AsBytes(K),
            MemoryMarshal.AsBytes(V), G, InitialState);
    }
}

/// <summary>
/// Host gradient outputs of a scan backward: <see cref="Dq"/>, <see cref="Dk"/> [B, T, Hk, K] and
/// <see cref="Dv"/> [B, T, H, V] of <typeparamref name="TGrad"/> (float or the inputs' type), fp32
/// <see cref="Dg"/> (shaped like g) and <see cref="DInitialState"/> [B, H, K, V]. Each may be empty to
/// skip it (at least one set); overwritten, not accumulated.
/// </summary>
public readonly ref struct ScanGrads<TGrad> where TGrad : unmanaged
{
    /// <summary>Describes the gradient outputs.</summary>
    public ScanGrads(Span<TGrad> dq = default, Span<TGrad> dk = default, Span<TGrad> dv = default,
        Span<float> dg = default, Span<float> dInitialState = default)
    {
        Dq = dq;
        Dk = dk;
        Dv = dv;
        Dg = dg;
        DInitialState = dInitialState;
    }

    /// <summary>dq [B, T, Hk, K], or empty.</summary>
    public Span<TGrad> Dq { get; }

    /// <summary>dk [B, T, Hk, K], or empty.</summary>
    public Span<TGrad> Dk { get; }

    /// <summary>dv [B, T, H, V], or empty.</summary>
    public Span<TGrad> Dv { get; }

    /// <summary>dg like g, or empty (must be empty for gate None).</summary>
    public Span<float> Dg { get; }

    /// <summary>d initial_state [B, H, K, V], or empty.</summary>
    public Span<float> DInitialState { get; }

    internal ScanHostGrads Check(in ScanHostProblem p)
    {
        var dtype = DTypes.OfFloat<TGrad>("grads");
        ScanChecks.Optional(Dq.Length, ScanChecks.Qk(p.Shape), "grads.Dq", "B·T·Hk·K");
        ScanChecks.Optional(Dk.Length, ScanChecks.Qk(p.Shape), "grads.Dk", "B·T·Hk·K");
        ScanChecks.Optional(Dv.Length, ScanChecks.Values(p.Shape), "grads.Dv", "B·T·H·V");
        if (p.Gate is ScanGate.Scalar or ScanGate.Vector)
            ScanChecks.Optional(Dg.Length, ScanChecks.Gate(p.Shape, p.Gate), "grads.Dg", ScanChecks.GateWhat(p.Gate));
        ScanChecks.Optional(DInitialState.Length, ScanChecks.State(p.Shape), "grads.DInitialState", "B·H·K·V");
        return new ScanHostGrads(dtype, MemoryMarshal.AsBytes(Dq), MemoryMarshal.AsBytes(Dk), MemoryMarshal.AsBytes(Dv),
            Dg, DInitialState);
    }
}
