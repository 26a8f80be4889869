using Engram.Ilgpu;
using Engram.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Engram.Ops;

/// <summary>
/// CCE on an ILGPU accelerator (the fallback). 16-bit inputs are widened to fp32 on upload; gradients
/// are computed in fp32 on the device and rounded to the output dtype on download. Target checking,
/// the upstream-gradient scaling of each reduction and the final sum/mean of n token losses happen on
/// the host, as in libengram's CPU backend.
/// </summary>
internal sealed class IlgpuCceBackend : ICceBackend
{
    private static readonly EngramDType[] s_float = [EngramDType.F32, EngramDType.F16, EngramDType.BF16];

    /// <summary>The CCE ops this port runs and their dtypes (as libengram's registry: combine reads fp32 statistics).</summary>
    public static IReadOnlyDictionary<EngramOp, EngramDType[]> Ports { get; } = new Dictionary<EngramOp, EngramDType[]>
    {
        [EngramOp.CceForward] = s_float,
        [EngramOp.CceBackward] = s_float,
        [EngramOp.CceForwardBackward] = s_float,
        [EngramOp.CceShardForward] = s_float,
        [EngramOp.CceShardCombine] = [EngramDType.F32],
    };

    private readonly IlgpuEngine _engine;
    private readonly Accelerator _accelerator;
    private readonly int _groupSize;
    private readonly IlgpuScratch _scratch;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
        ArrayView<float>, CceKernelParams> _forward;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, CceKernelParams> _gradE;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, CceKernelParams> _gradC;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
        ArrayView<float>, int, CceKernelParams> _combine;

    public IlgpuCceBackend(IlgpuEngine engine)
    {
        _engine = engine;
        var accelerator = engine.Accelerator;
        _accelerator = accelerator;
        _scratch = engine.Scratch;
        // The CPU accelerator simulates every thread: small groups keep tests fast there.
        int preferred = accelerator.AcceleratorType == AcceleratorType.CPU ? 16 : 128;
        _groupSize = (int)Math.Min(preferred, Math.Min(IlgpuCceKernels.MaxGroupSize, accelerator.MaxNumThreadsPerGroup));
        _groupSize = 1 << (31 - System.Numerics.BitOperations.LeadingZeroCount((uint)_groupSize)); // power of two
        _forward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
            ArrayView<float>, CceKernelParams>(IlgpuCceKernels.Forward);
        _gradE = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, CceKernelParams>(IlgpuCceKernels.GradE);
        _gradC = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, CceKernelParams>(IlgpuCceKernels.GradC);
        _combine = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<int>, ArrayView<float>, int, CceKernelParams>(IlgpuCceKernels.Combine);
    }

    public void Forward(in CceHostProblem p, CceOptions o, Span<float> loss, Span<float> lse)
    {
        IlgpuCceChecks.Forward(p, o, loss, lse);
        using var gate = _engine.Gate.EnterScope();
        using var dev = Upload(p, o);
        float[] stats = RunForward(dev);
        int n = dev.Params.N;
        WriteLoss(o, stats.AsSpan(3 * n, n), dev.Valid, loss);
        if (!lse.IsEmpty) stats.AsSpan(0, n).CopyTo(lse);
        Record(EngramOp.CceForward, dev.Valid);
    }

    public void Backward(in CceHostProblem p, CceOptions o, ReadOnlySpan<float> lse, ReadOnlySpan<float> gradLoss,
        in CceHostGrads g)
    {
        IlgpuCceChecks.Backward(p, o, lse, g);
        using var gate = _engine.Gate.EnterScope();
        using var dev = Upload(p, o);
        float[] tokenLse = lse.IsEmpty ? RunForward(dev)[..dev.Params.N] : lse.ToArray();
        RunBackward(EngramOp.CceBackward, dev, o, tokenLse, gradLoss, g);
    }

    public void ForwardBackward(in CceHostProblem p, CceOptions o, ReadOnlySpan<float> gradLoss, Span<float> loss,
        Span<float> lse, in CceHostGrads g)
    {
        IlgpuCceChecks.ForwardBackward(p, o, loss, lse, g);
        using var gate = _engine.Gate.EnterScope();
        using var dev = Upload(p, o);
        float[] stats = RunForward(dev);
        int n = dev.Params.N;
        WriteLoss(o, stats.AsSpan(3 * n, n), dev.Valid, loss);
        if (!lse.IsEmpty) stats.AsSpan(0, n).CopyTo(lse);
        RunBackward(EngramOp.CceForwardBackward, dev, o, stats[..n], gradLoss, g);
    }

    public void ShardForward(in CceHostProblem p, CceOptions o, Span<float> shardLse, Span<float> targetLogit,
        Span<float> logitSum)
    {
        IlgpuCceChecks.ShardForward(p, o, shardLse, targetLogit, logitSum);
        using var gate = _engine.Gate.EnterScope();
        using var dev = Upload(p, o);
        float[] stats = RunForward(dev);
        int n = dev.Params.N;
        stats.AsSpan(0, n).CopyTo(shardLse);
        stats.AsSpan(n, n).CopyTo(targetLogit);
        if (!logitSum.IsEmpty) stats.AsSpan(2 * n, n).CopyTo(logitSum);
        Record(EngramOp.CceShardForward, dev.Valid);
    }

    public void ShardCombine(long n, long numShards, long vocabTotal, ReadOnlySpan<float> shardLse,
        ReadOnlySpan<float> targetLogit, ReadOnlySpan<float> logitSum, ReadOnlySpan<byte> targets,
        EngramDType targetDType, CceOptions o, Span<float> loss, Span<float> lse)
    {
        IlgpuCceChecks.ShardCombine(n, numShards, vocabTotal, logitSum, o, loss, lse);
        using var gate = _engine.Gate.EnterScope();
        var shape = new CceShape(n, 1, vocabTotal);
        int[] col = IlgpuCceTargets.Columns(targets, targetDType, shape, o, out int valid);
        int[] isValid = Array.ConvertAll(col, x => x == IlgpuCceKernels.Ignored ? 0 : 1);
        var prm = Params(shape, o, EngramDType.F32, hasBias: false);
        using var scope = _scratch.Scope();
        var dLse = scope.Upload(shardLse);
        var dTarget = scope.Upload(targetLogit);
        var dSum = logitSum.IsEmpty ? scope.Zeros<float>(1) : scope.Upload(logitSum);
        var dValid = scope.Upload<int>(isValid);
        var dOut = scope.Zeros<float>(2 * n);
        _combine((int)n, dLse.View, dTarget.View, dSum.View, dValid.View, dOut.View, (int)numShards, prm);
        _accelerator.Synchronize();
        float[] output = dOut.GetAsArray1D();
        WriteLoss(o, output.AsSpan(0, (int)n), valid, loss);
        if (!lse.IsEmpty) output.AsSpan((int)n, (int)n).CopyTo(lse);
        Record(EngramOp.CceShardCombine, valid);
    }

    // The counters libengram's CCE sets (engram_cce.h); the ILGPU kernels visit every block of a token.
    private void Record(EngramOp op, int valid, ulong visited = 0, ulong skipped = 0, bool backward = false)
    {
        var counters = new Dictionary<string, ulong> { ["tokens_valid"] = (ulong)valid };
        if (backward)
        {
            counters["blocks_total"] = visited;
            counters["blocks_skipped"] = skipped;
        }
        _engine.RecordOp(op, counters);
    }

    private DeviceProblem Upload(in CceHostProblem p, CceOptions o)
    {
        int[] col = IlgpuCceTargets.Columns(p.Targets, p.TargetDType, p.Shape, o, out int valid);
        var scope = _scratch.Scope();
        try
        {
            var e = scope.UploadWidened(p.E, p.DType, p.Shape.N * p.Shape.D);
            var c = scope.UploadWidened(p.C, p.DType, p.Shape.V * p.Shape.D);
            var bias = p.Bias.IsEmpty ? scope.Zeros<float>(1) : scope.UploadWidened(p.Bias, p.DType, p.Shape.V);
            var dCol = scope.Upload<int>(col);
            var prm = Params(p.Shape, o, p.DType, hasBias: !p.Bias.IsEmpty);
            return new DeviceProblem(scope, e, c, bias, dCol, col, valid, prm);
        }
        catch
        {
            scope.Dispose();
            throw;
        }
    }

    private float[] RunForward(DeviceProblem dev)
    {
        var stats = dev.Scope.Zeros<float>(4L * dev.Params.N);
        _forward(new KernelConfig(dev.Params.N, _groupSize), dev.E.View, dev.C.View, dev.Bias.View, dev.Col.View,
            stats.View, dev.Params);
        _accelerator.Synchronize();
        return stats.GetAsArray1D();
    }

    private void RunBackward(EngramOp op, DeviceProblem dev, CceOptions o, float[] tokenLse, ReadOnlySpan<float> gradLoss,
        in CceHostGrads g)
    {
        var prm = dev.Params;
        prm.WantGradC = g.C.IsEmpty ? 0 : 1;
        float[] upstream = Upstream(o, dev.HostCol, dev.Valid, gradLoss);
        var dLse = dev.Scope.Upload<float>(tokenLse);
        var dUp = dev.Scope.Upload<float>(upstream);
        var counts = dev.Scope.Zeros<int>(2L * prm.N);
        ulong visited = 0, skipped = 0;
        if (!g.E.IsEmpty)
        {
            var gradE = dev.Scope.Zeros<float>((long)prm.N * prm.D);
            _gradE(new KernelConfig(prm.N, _groupSize), dev.E.View, dev.C.View, dev.Bias.View, dev.Col.View,
                dLse.View, dUp.View, gradE.View, counts.View, prm);
            _accelerator.Synchronize();
            DTypes.FromSingle(gradE.GetAsArray1D(), g.DType, g.E);
            int[] perToken = counts.GetAsArray1D();
            for (int i = 0; i < prm.N; i++)
            {
                visited += (ulong)perToken[i];
                skipped += (ulong)perToken[prm.N + i];
            }
        }
        if (!g.C.IsEmpty || !g.Bias.IsEmpty)
        {
            var gradC = dev.Scope.Zeros<float>(g.C.IsEmpty ? 1 : (long)prm.V * prm.D);
            var gradBias = dev.Scope.Zeros<float>(prm.V);
            _gradC(new KernelConfig(prm.V, _groupSize), dev.E.View, dev.C.View, dev.Bias.View, dev.Col.View,
                dLse.View, dUp.View, gradC.View, gradBias.View, prm);
            _accelerator.Synchronize();
            if (!g.C.IsEmpty) DTypes.FromSingle(gradC.GetAsArray1D(), g.DType, g.C);
            if (!g.Bias.IsEmpty) DTypes.FromSingle(gradBias.GetAsArray1D(), g.DType, g.Bias);
        }
        Record(op, dev.Valid, visited, skipped, backward: true);
    }

    // The upstream gradient of each token's loss: grad_loss[i] (NONE), grad_loss[0] (SUM), or
    // grad_loss[0] / valid tokens (MEAN); 1 where grad_loss is absent; 0 for ignored tokens.
    private static float[] Upstream(CceOptions o, int[] col, int valid, ReadOnlySpan<float> gradLoss)
    {
        var up = new float[col.Length];
        float g0 = gradLoss.IsEmpty ? 1f : gradLoss[0];
        for (int i = 0; i < col.Length; i++)
        {
            if (col[i] == IlgpuCceKernels.Ignored) continue;
            up[i] = o.Reduction switch
            {
                CceReduction.None => gradLoss.IsEmpty ? 1f : gradLoss[i],
                CceReduction.Sum => g0,
                _ => valid > 0 ? g0 / valid : 0f,
            };
        }
        return up;
    }

    private static void WriteLoss(CceOptions o, ReadOnlySpan<float> tokenLoss, int valid, Span<float> loss)
    {
        if (o.Reduction == CceReduction.None)
        {
            tokenLoss.CopyTo(loss);
            return;
        }
        double sum = 0;
        foreach (float l in tokenLoss) sum += l;
        if (o.Reduction == CceReduction.Mean) sum = valid > 0 ? sum / valid : 0;
        loss[0] = (float)sum;
    }

    private static CceKernelParams Params(CceShape shape, CceOptions o, EngramDType dtype, bool hasBias) => new()
    {
        N = (int)shape.N,
        D = (int)shape.D,
        V = (int)shape.V,
        HasBias = hasBias ? 1 : 0,
        WantGradC = 1,
        Softcap = o.Softcap,
        Smoothing = o.LabelSmoothing,
        ZLoss = o.ZLoss,
        InvVocab = 1f / shape.Vocabulary,
        FilterEps = o.ResolvedFilterEps(dtype),
    };

    private sealed record DeviceProblem(
        IlgpuScratch.ScratchScope Scope,
        MemoryBuffer1D<float, Stride1D.Dense> E,
        MemoryBuffer1D<float, Stride1D.Dense> C,
        MemoryBuffer1D<float, Stride1D.Dense> Bias,
        MemoryBuffer1D<int, Stride1D.Dense> Col,
        int[] HostCol,
        int Valid,
        CceKernelParams Params) : IDisposable
    {
        public void Dispose() => Scope.Dispose();
    }
}
