using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// Fused linear cross-entropy ("Cut Your Losses"): the loss of logits z = e·cᵀ + bias (optionally
/// softcapped) against targets, without ever storing the n×v logit matrix. Host-span overloads run on
/// every backend (a native CUDA context copies them to the device and back); the DeviceBuffer overloads
/// in Cce.Device.cs keep data on the GPU. Each op runs on the backend the context routes it to
/// (<see cref="EngramContext.BackendFor"/>). Span lengths are checked here (<see cref="ArgumentException"/>
/// naming the span); every other rule is libengram's: a rejected argument is an
/// <see cref="EngramArgumentException"/>, other failures (e.g. a target id out of range) an
/// <see cref="EngramException"/>.
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
        var o = options ?? CceOptions.Default;
        var p = inputs.Check();
        long n = p.Shape.N;
        CceChecks.Length(loss.Length, CceChecks.LossElements(n, o), nameof(loss), CceChecks.LossWhat(o));
        CceChecks.Optional(lse.Length, CceChecks.Elements(n), nameof(lse), "n (or empty)");
        context.Cce(EngramOp.CceForward, p.DType).Forward(p, o, loss, lse);
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
        var o = options ?? CceOptions.Default;
        var p = inputs.Check();
        var g = grads.Check(p);
        CceChecks.Optional(lse.Length, CceChecks.Elements(p.Shape.N), nameof(lse), "n (or empty)");
        CheckGradLoss(gradLoss.Length, p.Shape.N, o);
        context.Cce(EngramOp.CceBackward, p.DType).Backward(p, o, lse, gradLoss, g);
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
        var o = options ?? CceOptions.Default;
        var p = inputs.Check();
        var g = grads.Check(p);
        long n = p.Shape.N;
        CceChecks.Length(loss.Length, CceChecks.LossElements(n, o), nameof(loss), CceChecks.LossWhat(o));
        CceChecks.Optional(lse.Length, CceChecks.Elements(n), nameof(lse), "n (or empty)");
        CheckGradLoss(gradLoss.Length, n, o);
        context.Cce(EngramOp.CceForwardBackward, p.DType).ForwardBackward(p, o, gradLoss, loss, lse, g);
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
        var o = options ?? CceOptions.Default;
        var p = inputs.Check();
        long? n = CceChecks.Elements(p.Shape.N);
        CceChecks.Length(shardLse.Length, n, nameof(shardLse), "n");
        CceChecks.Length(targetLogit.Length, n, nameof(targetLogit), "n");
        CceChecks.Optional(logitSum.Length, n, nameof(logitSum), "n (or empty without label smoothing)");
        context.Cce(EngramOp.CceShardForward, p.DType).ShardForward(p, o, shardLse, targetLogit, logitSum);
    }

    /// <summary>
    /// Step 2: merges shards into the exact loss. <paramref name="shardLse"/> [numShards, n] gathered from
    /// every shard; <paramref name="targetLogit"/> and <paramref name="logitSum"/> [n] summed over shards
    /// (logitSum empty when label smoothing is off). Writes loss (n or 1 by reduction) and the global lse
    /// (n, or empty) that each shard then passes to Backward. n is the length of <paramref name="targets"/>.
    /// </summary>
    public static void ShardCombine<TTarget>(EngramContext context, long numShards, long vocabTotal,
        ReadOnlySpan<float> shardLse, ReadOnlySpan<float> targetLogit, ReadOnlySpan<float> logitSum,
        ReadOnlySpan<TTarget> targets, Span<float> loss, Span<float> lse = default, CceOptions? options = null)
        where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var o = options ?? CceOptions.Default;
        var targetDType = DTypes.OfTarget<TTarget>(nameof(targets));
        long n = targets.Length;
        CceChecks.Length(shardLse.Length, CceChecks.Elements(numShards, n), nameof(shardLse), "numShards·n");
        CceChecks.Length(targetLogit.Length, n, nameof(targetLogit), "n");
        CceChecks.Optional(logitSum.Length, n, nameof(logitSum), "n (or empty without label smoothing)");
        CceChecks.Length(loss.Length, CceChecks.LossElements(n, o), nameof(loss), CceChecks.LossWhat(o));
        CceChecks.Optional(lse.Length, n, nameof(lse), "n (or empty)");
        // The combine reads fp32 statistics only: it is routed as an F32 op.
        context.Cce(EngramOp.CceShardCombine, EngramDType.F32).ShardCombine(n, numShards, vocabTotal, shardLse,
            targetLogit, logitSum, MemoryMarshal.AsBytes(targets), targetDType, o, loss, lse);
    }

    private static void CheckGradLoss(long length, long n, CceOptions o) =>
        CceChecks.Optional(length, CceChecks.LossElements(n, o), "gradLoss",
            o.Reduction == CceReduction.None ? "n (reduction None; or empty for 1)" : $"1 (reduction {o.Reduction}; or empty for 1)");
}
