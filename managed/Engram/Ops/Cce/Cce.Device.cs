using Engram.Native;

namespace Engram.Ops;

// The DeviceBuffer overloads: data stays on the GPU of the context's native CUDA backend, pointers go
// straight to libengram. Managed code checks that each buffer belongs to the context and has the
// shape's length; libengram checks the rest, as for the host-span overloads.
public static unsafe partial class Cce
{
    /// <summary>Forward on device buffers (see the host overload).</summary>
    public static void Forward<T, TTarget>(EngramContext context, CceDeviceInputs<T, TTarget> inputs,
        DeviceBuffer<float> loss, DeviceBuffer<float>? lse = null, CceOptions? options = null)
        where T : unmanaged where TTarget : unmanaged
    {
        var (ctx, o, native) = Prepare(context, inputs, options);
        var opts = o.ToNative();
        CheckDevice(context, loss, CceChecks.LossElements(inputs.Shape.N, o), nameof(loss));
        CheckDevice(context, lse, CceChecks.Elements(inputs.Shape.N), nameof(lse));
        NativeMethods.Check(NativeMethods.engram_cce_forward(ctx, &native, &opts, F(loss), F(lse)));
    }

    /// <summary>Backward on device buffers (see the host overload).</summary>
    public static void Backward<T, TTarget, TGrad>(EngramContext context, CceDeviceInputs<T, TTarget> inputs,
        CceDeviceGrads<TGrad> grads, DeviceBuffer<float>? lse = null, DeviceBuffer<float>? gradLoss = null,
        CceOptions? options = null)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        var (ctx, o, native) = Prepare(context, inputs, options);
        var opts = o.ToNative();
        CheckDevice(context, lse, CceChecks.Elements(inputs.Shape.N), nameof(lse));
        CheckDevice(context, gradLoss, CceChecks.LossElements(inputs.Shape.N, o), nameof(gradLoss));
        var g = DeviceGrads(context, inputs, grads);
        NativeMethods.Check(NativeMethods.engram_cce_backward(ctx, &native, &opts, F(lse), F(gradLoss), &g));
    }

    /// <summary>Forward and backward in one pass, on device buffers (see the host overload).</summary>
    public static void ForwardBackward<T, TTarget, TGrad>(EngramContext context, CceDeviceInputs<T, TTarget> inputs,
        CceDeviceGrads<TGrad> grads, DeviceBuffer<float> loss, DeviceBuffer<float>? lse = null,
        DeviceBuffer<float>? gradLoss = null, CceOptions? options = null)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        var (ctx, o, native) = Prepare(context, inputs, options);
        var opts = o.ToNative();
        CheckDevice(context, loss, CceChecks.LossElements(inputs.Shape.N, o), nameof(loss));
        CheckDevice(context, lse, CceChecks.Elements(inputs.Shape.N), nameof(lse));
        CheckDevice(context, gradLoss, CceChecks.LossElements(inputs.Shape.N, o), nameof(gradLoss));
        var g = DeviceGrads(context, inputs, grads);
        NativeMethods.Check(NativeMethods.engram_cce_forward_backward(ctx, &native, &opts, F(gradLoss), F(loss),
            F(lse), &g));
    }

    /// <summary>Shard forward on device buffers (see the host overload).</summary>
    public static void ShardForward<T, TTarget>(EngramContext context, CceDeviceInputs<T, TTarget> inputs,
        DeviceBuffer<float> shardLse, DeviceBuffer<float> targetLogit, DeviceBuffer<float>? logitSum = null,
        CceOptions? options = null)
        where T : unmanaged where TTarget : unmanaged
    {
        var (ctx, o, native) = Prepare(context, inputs, options);
        var opts = o.ToNative();
        long? n = CceChecks.Elements(inputs.Shape.N);
        CheckDevice(context, shardLse, n, nameof(shardLse));
        CheckDevice(context, targetLogit, n, nameof(targetLogit));
        CheckDevice(context, logitSum, n, nameof(logitSum));
        NativeMethods.Check(NativeMethods.engram_cce_shard_forward(ctx, &native, &opts, F(shardLse),
            F(targetLogit), F(logitSum)));
    }

    /// <summary>Shard combine on device buffers (see the host overload).</summary>
    public static void ShardCombine<TTarget>(EngramContext context, long numShards, long vocabTotal,
        DeviceBuffer<float> shardLse, DeviceBuffer<float> targetLogit, DeviceBuffer<float>? logitSum,
        DeviceBuffer<TTarget> targets, DeviceBuffer<float> loss, DeviceBuffer<float>? lse = null,
        CceOptions? options = null)
        where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(targets);
        var ctx = context.RequireNativeCuda("Cce.ShardCombine on device buffers");
        var o = options ?? CceOptions.Default;
        var opts = o.ToNative();
        var targetDType = DTypes.OfTarget<TTarget>(nameof(targets));
        long n = targets.Length;
        CheckDevice(context, shardLse, CceChecks.Elements(numShards, n), nameof(shardLse));
        CheckDevice(context, targetLogit, n, nameof(targetLogit));
        CheckDevice(context, logitSum, n, nameof(logitSum));
        CheckDevice(context, targets, n, nameof(targets));
        CheckDevice(context, loss, CceChecks.LossElements(n, o), nameof(loss));
        CheckDevice(context, lse, n, nameof(lse));
        NativeMethods.Check(NativeMethods.engram_cce_shard_combine(ctx, n, numShards, vocabTotal, F(shardLse),
            F(targetLogit), F(logitSum), (void*)targets.Pointer, targetDType, &opts, F(loss), F(lse)));
    }

    private static (EngramContextHandle, CceOptions, EngramCceInputs) Prepare<T, TTarget>(EngramContext context,
        CceDeviceInputs<T, TTarget> inputs, CceOptions? options)
        where T : unmanaged where TTarget : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(inputs);
        var ctx = context.RequireNativeCuda("Cce on device buffers");
        var o = options ?? CceOptions.Default;
        var dtype = DTypes.OfFloat<T>(nameof(inputs));
        var targetDType = DTypes.OfTarget<TTarget>(nameof(inputs));
        var s = inputs.Shape;
        CheckDevice(context, inputs.E, CceChecks.Elements(s.N, s.D), "inputs.E");
        CheckDevice(context, inputs.C, CceChecks.Elements(s.V, s.D), "inputs.C");
        CheckDevice(context, inputs.Targets, CceChecks.Elements(s.N), "inputs.Targets");
        CheckDevice(context, inputs.Bias, CceChecks.Elements(s.V), "inputs.Bias");
        var native = NativeCceBackend.Inputs(s, dtype, targetDType, (void*)inputs.E.Pointer, (void*)inputs.C.Pointer,
            inputs.Bias is null ? null : (void*)inputs.Bias.Pointer, (void*)inputs.Targets.Pointer);
        return (ctx, o, native);
    }

    private static EngramCceGrads DeviceGrads<T, TTarget, TGrad>(EngramContext context, CceDeviceInputs<T, TTarget> inputs,
        CceDeviceGrads<TGrad> grads)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        ArgumentNullException.ThrowIfNull(grads);
        var dtype = DTypes.OfFloat<TGrad>(nameof(grads));
        var s = inputs.Shape;
        CheckDevice(context, grads.E, CceChecks.Elements(s.N, s.D), "grads.E");
        CheckDevice(context, grads.C, CceChecks.Elements(s.V, s.D), "grads.C");
        CheckDevice(context, grads.Bias, CceChecks.Elements(s.V), "grads.Bias");
        return NativeCceBackend.Grads(dtype, P(grads.E), P(grads.C), P(grads.Bias));
    }

    private static void CheckDevice<TElem>(EngramContext context, DeviceBuffer<TElem>? buffer, long? length, string name)
        where TElem : unmanaged
    {
        if (buffer is null) return;
        if (!ReferenceEquals(buffer.Context, context))
            throw new ArgumentException($"{name} belongs to another context", name);
        CceChecks.Length(buffer.Length, length, name, "its shape");
    }

    private static float* F(DeviceBuffer<float>? b) => b is null ? null : (float*)b.Pointer;

    private static void* P<TElem>(DeviceBuffer<TElem>? b) where TElem : unmanaged => b is null ? null : (void*)b.Pointer;
}
