using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// Fused linear cross-entropy ("Cut Your Losses"): the loss of logits z = e·cᵀ + bias (optionally
/// softcapped) against targets, without ever storing the n×v logit matrix. Host-span overloads run on
/// every backend (a native CUDA context copies them to the device and back); the DeviceBuffer overloads
/// in Cce.Device.cs keep data on the GPU. Sizes are checked here, before libengram is called, with
/// <see cref="ArgumentException"/>s; libengram's own checks (e.g. target ids) raise <see cref="EngramException"/>.
/// </summary>
public static partial class Cce
{
    /// <summary>
    /// Per-token loss and log-sum-exp. <paramref name="loss"/>: n floats (Reduction None) or 1 (Sum, Mean);
    /// <paramref name="lse"/>: n floats, or empty to skip (keep it for Backward).
    /// </summary>
    public static void Forward<T, TTarget>(EngramContext context, CceInputs<T, TTarget> inputs, Span<float> loss,
        Span<float> lse = default, CceOptions? options = null)
        where T : unmanaged where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var o = Options(options);
        var p = inputs.Check();
        CceChecks.Unsharded(p.Shape, nameof(Forward), nameof(ShardForward) + " and " + nameof(ShardCombine));
        CheckLoss(loss.Length, p.Shape.N, o, nameof(loss));
        CceChecks.Optional(lse.Length, p.Shape.N, nameof(lse), "n (or empty)");
        context.Cce.Forward(p, o, loss, lse);
    }

    /// <summary>
    /// Gradients by recomputing logits block by block. <paramref name="lse"/>: n floats from the forward
    /// (the global lse when sharded: required then), or empty to recompute it. <paramref name="gradLoss"/>:
    /// the upstream gradient (n for None, 1 for Sum/Mean), empty = 1. For a shard, grads.E is this shard's
    /// partial sum: all-reduce it.
    /// </summary>
    public static void Backward<T, TTarget, TGrad>(EngramContext context, CceInputs<T, TTarget> inputs,
        CceGrads<TGrad> grads, ReadOnlySpan<float> lse = default, ReadOnlySpan<float> gradLoss = default,
        CceOptions? options = null)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var o = Options(options);
        var p = inputs.Check();
        var g = grads.Check(p);
        if (p.Shape.IsSharded && lse.IsEmpty)
            throw new ArgumentException("a vocabulary shard's backward needs the global lse from ShardCombine", nameof(lse));
        CceChecks.Optional(lse.Length, p.Shape.N, nameof(lse), "n (or empty)");
        CheckGradLoss(gradLoss.Length, p.Shape.N, o);
        context.Cce.Backward(p, o, lse, gradLoss, g);
    }

    /// <summary>
    /// Forward and backward in one pass over the logits, for a caller that knows the upstream gradient
    /// already (<paramref name="gradLoss"/> as in Backward; empty = 1). Unsharded inputs only.
    /// </summary>
    public static void ForwardBackward<T, TTarget, TGrad>(EngramContext context, CceInputs<T, TTarget> inputs,
        CceGrads<TGrad> grads, Span<float> loss, Span<float> lse = default, ReadOnlySpan<float> gradLoss = default,
        CceOptions? options = null)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var o = Options(options);
        var p = inputs.Check();
        CceChecks.Unsharded(p.Shape, nameof(ForwardBackward), "ShardForward, ShardCombine and Backward");
        var g = grads.Check(p);
        CheckLoss(loss.Length, p.Shape.N, o, nameof(loss));
        CceChecks.Optional(lse.Length, p.Shape.N, nameof(lse), "n (or empty)");
        CheckGradLoss(gradLoss.Length, p.Shape.N, o);
        context.Cce.ForwardBackward(p, o, gradLoss, loss, lse, g);
    }

    /// <summary>
    /// Vocabulary-parallel forward, step 1, on one shard (inputs.Shape with VocabStart/VocabTotal): per
    /// token the shard's lse, the target logit if the target is in this shard (else 0), and the sum of the
    /// shard's logits (required when label smoothing is on, else may be empty). All n floats.
    /// </summary>
    public static void ShardForward<T, TTarget>(EngramContext context, CceInputs<T, TTarget> inputs,
        Span<float> shardLse, Span<float> targetLogit, Span<float> logitSum = default, CceOptions? options = null)
        where T : unmanaged where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var o = Options(options);
        var p = inputs.Check();
        CceChecks.Length(shardLse.Length, p.Shape.N, nameof(shardLse), "n");
        CceChecks.Length(targetLogit.Length, p.Shape.N, nameof(targetLogit), "n");
        CheckLogitSum(logitSum.Length, p.Shape.N, o);
        context.Cce.ShardForward(p, o, shardLse, targetLogit, logitSum);
    }

    /// <summary>
    /// Step 2: merges shards into the exact loss. <paramref name="shardLse"/> [numShards, n] gathered from
    /// every shard; <paramref name="targetLogit"/> and <paramref name="logitSum"/> [n] summed over shards
    /// (logitSum empty when label smoothing is off). Writes loss (n or 1 by reduction) and the global lse
    /// (n, or empty) that each shard then passes to Backward.
    /// </summary>
    public static void ShardCombine<TTarget>(EngramContext context, long numShards, long vocabTotal,
        ReadOnlySpan<float> shardLse, ReadOnlySpan<float> targetLogit, ReadOnlySpan<float> logitSum,
        ReadOnlySpan<TTarget> targets, Span<float> loss, Span<float> lse = default, CceOptions? options = null)
        where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var o = Options(options);
        var targetDType = DTypes.OfTarget<TTarget>(nameof(targets));
        long n = targets.Length;
        if (n == 0) throw new ArgumentException("targets is empty: n must be positive", nameof(targets));
        if (numShards <= 0 || vocabTotal <= 0 || numShards > vocabTotal)
            throw new ArgumentOutOfRangeException(nameof(numShards), numShards,
                $"need 1 <= numShards <= vocabTotal ({vocabTotal})");
        CceChecks.Length(shardLse.Length, numShards * n, nameof(shardLse), "numShards·n");
        CceChecks.Length(targetLogit.Length, n, nameof(targetLogit), "n");
        CheckLogitSum(logitSum.Length, n, o);
        CheckLoss(loss.Length, n, o, nameof(loss));
        CceChecks.Optional(lse.Length, n, nameof(lse), "n (or empty)");
        context.Cce.ShardCombine(n, numShards, vocabTotal, shardLse, targetLogit, logitSum,
            MemoryMarshal.AsBytes(targets), targetDType, o, loss, lse);
    }

    private static CceOptions Options(CceOptions? options)
    {
        var o = options ?? CceOptions.Default;
        o.Validate();
        return o;
    }

    private static void CheckLoss(long length, long n, CceOptions o, string name) =>
        CceChecks.Length(length, o.LossLength(n), name, o.Reduction == CceReduction.None ? "n (reduction None)" : $"1 (reduction {o.Reduction})");

    private static void CheckGradLoss(long length, long n, CceOptions o) =>
        CceChecks.Optional(length, o.LossLength(n), "gradLoss",
            o.Reduction == CceReduction.None ? "n (reduction None; or empty for 1)" : $"1 (reduction {o.Reduction}; or empty for 1)");

    private static void CheckLogitSum(long length, long n, CceOptions o)
    {
        if (o.LabelSmoothing > 0) CceChecks.Length(length, n, "logitSum", "n (label smoothing is on)");
        else CceChecks.Optional(length, n, "logitSum", "n (or empty)");
    }
}
