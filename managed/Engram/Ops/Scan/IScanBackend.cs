namespace Engram.Ops;

/// <summary>A scan problem after the managed checks (empty spans mean NULL).</summary>
internal readonly ref struct ScanHostProblem
{
    public ScanHostProblem(ScanShape shape, EngramDType dtype, ScanGate gate, ReadOnlySpan<byte> q,
        ReadOnlySpan<byte> k, ReadOnlySpan<byte> v, ReadOnlySpan<float> g, ReadOnlySpan<float> initialState)
    {
        Shape = shape;
        DType = dtype;
        Gate = gate;
        Q = q;
        K = k;
        V = v;
        G = g;
        InitialState = initialState;
    }

    public ScanShape Shape { get; }
    public EngramDType DType { get; }
    public ScanGate Gate { get; }
    public ReadOnlySpan<byte> Q { get; }
    public ReadOnlySpan<byte> K { get; }
    public ReadOnlySpan<byte> V { get; }
    public ReadOnlySpan<float> G { get; }
    public ReadOnlySpan<float> InitialState { get; }
}

/// <summary>Checked scan gradient outputs; empty spans are skipped.</summary>
internal readonly ref struct ScanHostGrads
{
    public ScanHostGrads(EngramDType dtype, Span<byte> dq, Span<byte> dk, Span<byte> dv, Span<float> dg,
        Span<float> dInitialState)
    {
        DType = dtype;
        Dq = dq;
        Dk = dk;
        Dv = dv;
        Dg = dg;
        DInitialState = dInitialState;
    }

    public EngramDType DType { get; }
    public Span<byte> Dq { get; }
    public Span<byte> Dk { get; }
    public Span<byte> Dv { get; }
    public Span<float> Dg { get; }
    public Span<float> DInitialState { get; }
}

/// <summary>
/// The scan family's port on one backend, over host memory (libengram, or the ILGPU kernels). Outputs
/// are raw bytes of <c>outputDType</c>.
/// </summary>
internal interface IScanBackend
{
    void LinearForward(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, Span<byte> output,
        Span<float> finalState);

    void LinearDecode(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, Span<byte> output,
        Span<float> stateOut);

    void LinearBackward(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, ReadOnlySpan<byte> gradO,
        ReadOnlySpan<float> gradFinalState, in ScanHostGrads g);
}
