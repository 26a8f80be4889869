namespace Engram.Ops;

/// <summary>
/// The argument rules of libengram's CCE entry points (native/src/ops/cce/cce_api.cpp), applied by the
/// ILGPU port, which never calls libengram: the same statuses (INVALID_ARGUMENT as
/// <see cref="EngramArgumentException"/>, a gradient dtype as <see cref="EngramStatus.Unsupported"/>), so a
/// caller sees the same exception types on every backend. Span lengths were checked by <see cref="Cce"/>;
/// here come the shape, the options and the rules between arguments. Host spans are also checked for
/// overlap, which libengram does with its own pointers.
/// </summary>
internal static class IlgpuCceChecks
{
    public static void Forward(in CceHostProblem p, CceOptions o, Span<float> loss, Span<float> lse)
    {
        Problem("cce_forward", p, o);
        Unsharded("cce_forward", p.Shape, "ShardForward and ShardCombine");
        NoOverlap("cce_forward", Bytes(loss), "loss", Bytes(lse), "lse");
    }

    public static void Backward(in CceHostProblem p, CceOptions o, ReadOnlySpan<float> lse, in CceHostGrads g)
    {
        Problem("cce_backward", p, o);
        if (p.Shape.IsSharded && lse.IsEmpty)
            Fail("cce_backward", "lse is empty: a vocabulary shard's backward needs the global lse from ShardCombine");
        Grads("cce_backward", p, g);
        CceChecks.Disjoint("ilgpu cce_backward", p, g);
    }

    public static void ForwardBackward(in CceHostProblem p, CceOptions o, Span<float> loss, Span<float> lse,
        in CceHostGrads g)
    {
        Problem("cce_forward_backward", p, o);
        Unsharded("cce_forward_backward", p.Shape, "ShardForward, ShardCombine and Backward");
        Grads("cce_forward_backward", p, g);
        CceChecks.Disjoint("ilgpu cce_forward_backward", p, g);
        NoOverlap("cce_forward_backward", Bytes(loss), "loss", Bytes(lse), "lse");
    }

    public static void ShardForward(in CceHostProblem p, CceOptions o, Span<float> shardLse, Span<float> targetLogit,
        Span<float> logitSum)
    {
        Problem("cce_shard_forward", p, o);
        if (o.LabelSmoothing > 0 && logitSum.IsEmpty)
            Fail("cce_shard_forward", "logitSum is empty but label smoothing is on");
        NoOverlap("cce_shard_forward", Bytes(shardLse), "shardLse", Bytes(targetLogit), "targetLogit");
        NoOverlap("cce_shard_forward", Bytes(shardLse), "shardLse", Bytes(logitSum), "logitSum");
        NoOverlap("cce_shard_forward", Bytes(targetLogit), "targetLogit", Bytes(logitSum), "logitSum");
    }

    public static void ShardCombine(long n, long numShards, long vocabTotal, ReadOnlySpan<float> logitSum,
        CceOptions o, Span<float> loss, Span<float> lse)
    {
        const string op = "cce_shard_combine";
        Options(op, o);
        Dim(op, n, "n");
        Dim(op, numShards, "numShards");
        Dim(op, vocabTotal, "vocabTotal");
        if (numShards > vocabTotal) Fail(op, $"numShards ({numShards}) exceeds vocabTotal ({vocabTotal})");
        if (o.LabelSmoothing > 0 && logitSum.IsEmpty) Fail(op, "logitSum is empty but label smoothing is on");
        NoOverlap(op, Bytes(loss), "loss", Bytes(lse), "lse");
    }

    private static void Problem(string op, in CceHostProblem p, CceOptions o)
    {
        Options(op, o);
        var s = p.Shape;
        Dim(op, s.N, "shape.N");
        Dim(op, s.D, "shape.D");
        Dim(op, s.V, "shape.V");
        if (s.VocabTotal != 0) Dim(op, s.VocabTotal, "shape.VocabTotal");
        if (s.Vocabulary < s.V) Fail(op, $"shape.VocabTotal ({s.VocabTotal}) is smaller than shape.V ({s.V})");
        if (s.VocabStart < 0 || s.VocabStart > s.Vocabulary - s.V)
            Fail(op, $"shape.VocabStart = {s.VocabStart}: the shard [vocab_start, vocab_start + v) must lie in [0, {s.Vocabulary})");
    }

    private static void Options(string op, CceOptions o)
    {
        if (!Enum.IsDefined(o.Reduction)) Fail(op, $"options.Reduction {(int)o.Reduction} is not a CceReduction");
        FiniteNonNegative(op, o.Softcap, "options.Softcap");
        FiniteNonNegative(op, o.ZLoss, "options.ZLoss");
        if (!float.IsFinite(o.LabelSmoothing) || o.LabelSmoothing < 0 || o.LabelSmoothing >= 1)
            Fail(op, $"options.LabelSmoothing must be in [0, 1), got {o.LabelSmoothing}");
        if (!float.IsFinite(o.FilterEps))
            Fail(op, $"options.FilterEps must be finite (negative = automatic), got {o.FilterEps}");
    }

    private static void Unsharded(string op, CceShape shape, string alternative)
    {
        if (shape.IsSharded) Fail(op, $"inputs describe a vocabulary shard ({shape}); use {alternative}");
    }

    private static void Grads(string op, in CceHostProblem p, in CceHostGrads g)
    {
        if (g.DType != EngramDType.F32 && g.DType != p.DType)
            throw new EngramException(EngramStatus.Unsupported,
                $"ilgpu {op}: grads are {DTypes.Name(g.DType)}: gradients are written as f32 or as the inputs' dtype ({DTypes.Name(p.DType)})");
        if (g.E.IsEmpty && g.C.IsEmpty && g.Bias.IsEmpty) Fail(op, "grads has no output: give at least one of E, C, Bias");
        if (!g.Bias.IsEmpty && p.Bias.IsEmpty) Fail(op, "grads.Bias is set but the inputs have no bias");
    }

    private static ReadOnlySpan<byte> Bytes(ReadOnlySpan<float> s) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(s);

    private static void Dim(string op, long value, string name)
    {
        if (value <= 0) Fail(op, $"{name} must be positive, got {value}");
        if (value > CceShape.MaxDim) Fail(op, $"{name} = {value} exceeds the supported maximum {CceShape.MaxDim}");
    }

    private static void FiniteNonNegative(string op, float value, string name)
    {
        if (!float.IsFinite(value) || value < 0) Fail(op, $"{name} must be finite and >= 0, got {value}");
    }

    private static void NoOverlap(string op, ReadOnlySpan<byte> a, string an, ReadOnlySpan<byte> b, string bn) =>
        CceChecks.NoOverlap("ilgpu " + op, a, an, b, bn);

    private static void Fail(string op, string message) => throw new EngramArgumentException($"ilgpu {op}: {message}");
}
