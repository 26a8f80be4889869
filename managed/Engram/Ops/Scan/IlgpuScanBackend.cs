using Engram.Backends;
using Engram.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Engram.Ops;

/// <summary>
/// Linear scans on an ILGPU accelerator (the fallback): forward and decode through the recurrent kernel
/// (<see cref="IlgpuScanKernels"/>). 16-bit inputs are widened to fp32 on upload, the output rounded once
/// on download. The backward has no ILGPU port (Auto routes it to libengram).
/// </summary>
internal sealed class IlgpuScanBackend : IScanBackend
{
    private static readonly EngramDType[] s_float = [EngramDType.F32, EngramDType.F16, EngramDType.BF16];

    /// <summary>The scan ops this port runs and their dtypes.</summary>
    public static IReadOnlyDictionary<EngramOp, EngramDType[]> Ports { get; } = new Dictionary<EngramOp, EngramDType[]>
    {
        [EngramOp.ScanLinearForward] = s_float,
        [EngramOp.ScanLinearDecode] = s_float,
    };

    private readonly IlgpuEngine _engine;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ScanKernelParams> _recurrent;

    public IlgpuScanBackend(IlgpuEngine engine)
    {
        _engine = engine;
        _recurrent = engine.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ScanKernelParams>(IlgpuScanKernels.Recurrent);
    }

    public void LinearForward(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, Span<byte> output,
        Span<float> finalState)
    {
        IlgpuScanChecks.Forward("scan_linear_forward", p, o, outputDType, output, finalState, decode: false);
        Run(EngramOp.ScanLinearForward, p, o, outputDType, output, finalState);
    }

    public void LinearDecode(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, Span<byte> output,
        Span<float> stateOut)
    {
        IlgpuScanChecks.Forward("scan_linear_decode", p, o, outputDType, output, stateOut, decode: true);
        if (stateOut.IsEmpty) throw new EngramArgumentException("ilgpu scan_linear_decode: state_out is NULL (required)");
        Run(EngramOp.ScanLinearDecode, p, o, outputDType, output, stateOut);
    }

    public void LinearBackward(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, ReadOnlySpan<byte> gradO,
        ReadOnlySpan<float> gradFinalState, in ScanHostGrads g) =>
        throw new EngramException(EngramStatus.Unsupported, "scan_linear_backward has no ILGPU port");

    private void Run(EngramOp op, in ScanHostProblem p, ScanOptions o, EngramDType outputDType, Span<byte> output,
        Span<float> state)
    {
        var s = p.Shape;
        var prm = new ScanKernelParams
        {
            B = (int)s.Batch,
            T = (int)s.T,
            H = (int)s.Heads,
            Hk = (int)s.QkHeadCount,
            K = (int)s.KDim,
            V = (int)s.VDim,
            Gate = (int)p.Gate,
            Scale = o.ResolvedScale(s.KDim),
        };
        long stateLength = s.Batch * s.Heads * s.KDim * s.VDim;
        long outLength = s.Batch * s.T * s.Heads * s.VDim;
        using var gate = _engine.Gate.EnterScope();
        using var scope = _engine.Scratch.Scope();
        var q = scope.UploadWidened(p.Q, p.DType, s.Batch * s.T * s.QkHeadCount * s.KDim);
        var k = scope.UploadWidened(p.K, p.DType, s.Batch * s.T * s.QkHeadCount * s.KDim);
        var v = scope.UploadWidened(p.V, p.DType, outLength);
        var g = p.G.IsEmpty ? scope.Zeros<float>(1) : scope.Upload(p.G);
        var st = p.InitialState.IsEmpty ? scope.Zeros<float>(stateLength) : scope.Upload(p.InitialState);
        var dOut = scope.Zeros<float>(outLength);
        _recurrent((int)(s.Batch * s.Heads * s.VDim), q.View, k.View, v.View, g.View, st.View, dOut.View, prm);
        _engine.Accelerator.Synchronize();
        DTypes.FromSingle(dOut.GetAsArray1D(), outputDType, output);
        if (!state.IsEmpty) st.GetAsArray1D().AsSpan(0, (int)stateLength).CopyTo(state);
        // The recurrent form processes every token as a chunk of one.
        _engine.RecordOp(op, new Dictionary<string, ulong> { ["chunks"] = (ulong)(s.Batch * s.Heads * s.T) });
    }
}
