namespace Engram.Ops;

/// <summary>
/// A CCE problem after the managed checks: element types known, span lengths match the shape (when the
/// shape is valid; an invalid one is rejected by libengram or the ILGPU port). Empty spans mean NULL.
/// </summary>
internal readonly ref struct CceHostProblem
{
    public CceHostProblem(CceShape shape, EngramDType dtype, EngramDType targetDType, ReadOnlySpan<byte> e,
        ReadOnlySpan<byte> c, ReadOnlySpan<byte> bias, ReadOnlySpan<byte> targets)
    {
        Shape = shape;
        DType = dtype;
        TargetDType = targetDType;
        E = e;
        C = c;
        Bias = bias;
        Targets = targets;
    }

    public CceShape Shape { get; }
    public EngramDType DType { get; }
    public EngramDType TargetDType { get; }
    public ReadOnlySpan<byte> E { get; }
    public ReadOnlySpan<byte> C { get; }
    public ReadOnlySpan<byte> Bias { get; }
    public ReadOnlySpan<byte> Targets { get; }
}

/// <summary>Checked gradient outputs; empty spans are skipped.</summary>
internal readonly ref struct CceHostGrads
{
    public CceHostGrads(EngramDType dtype, Span<byte> e, Span<byte> c, Span<byte> bias)
    {
        DType = dtype;
        E = e;
        C = c;
        Bias = bias;
    }

    public EngramDType DType { get; }
    public Span<byte> E { get; }
    public Span<byte> C { get; }
    public Span<byte> Bias { get; }
}

/// <summary>
/// The CCE family's port on one backend, over host memory: libengram (CPU, or CUDA with staging copies)
/// or the ILGPU kernels. <see cref="Cce"/> checks span lengths, then calls the port of the backend the
/// context routes the op to. Optional outputs and inputs are empty spans. Context-level facts (memory and
/// op stats) belong to the backend engine, not to the port.
/// </summary>
internal interface ICceBackend
{
    void Forward(in CceHostProblem p, CceOptions o, Span<float> loss, Span<float> lse);

    void Backward(in CceHostProblem p, CceOptions o, ReadOnlySpan<float> lse, ReadOnlySpan<float> gradLoss,
        in CceHostGrads g);

    void ForwardBackward(in CceHostProblem p, CceOptions o, ReadOnlySpan<float> gradLoss, Span<float> loss,
        Span<float> lse, in CceHostGrads g);

    void ShardForward(in CceHostProblem p, CceOptions o, Span<float> shardLse, Span<float> targetLogit,
        Span<float> logitSum);

    void ShardCombine(long n, long numShards, long vocabTotal, ReadOnlySpan<float> shardLse,
        ReadOnlySpan<float> targetLogit, ReadOnlySpan<float> logitSum, ReadOnlySpan<byte> targets,
        EngramDType targetDType, CceOptions o, Span<float> loss, Span<float> lse);
}
