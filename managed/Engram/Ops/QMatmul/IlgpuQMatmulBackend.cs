using Engram.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Engram.Ops;

/// <summary>
/// The 2-bit product on an ILGPU accelerator (the fallback GEMV of <see cref="IlgpuQMatmulKernels"/>).
/// Activations and 16-bit scales are widened to fp32 on upload, y rounded once on download. The
/// quantizers and layout conversions have no ILGPU port (Auto routes them to libengram).
/// </summary>
internal sealed class IlgpuQMatmulBackend : IQMatmulBackend
{
    /// <summary>The 2-bit ops this port runs, by activation dtype.</summary>
    public static IReadOnlyDictionary<EngramOp, EngramDType[]> Ports { get; } = new Dictionary<EngramOp, EngramDType[]>
    {
        [EngramOp.Qmatmul] = [EngramDType.F32, EngramDType.F16, EngramDType.BF16],
    };

    private readonly IlgpuEngine _engine;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<uint>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, QMatmulKernelParams> _gemv;

    public IlgpuQMatmulBackend(IlgpuEngine engine)
    {
        _engine = engine;
        _gemv = engine.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<uint>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, QMatmulKernelParams>(IlgpuQMatmulKernels.Gemv);
    }

    public void Multiply(in QWeightHost w, long m, EngramDType xDType, ReadOnlySpan<byte> x, EngramDType yDType,
        Span<byte> y)
    {
        const string op = "ilgpu qmatmul";
        if (m < 1) Fail(op, $"m must be positive, got {m}");
        if (w.NOut < 1) Fail(op, $"w->n_out must be positive, got {w.NOut}");
        if (w.GroupSize is not (32 or 64 or 128)) Fail(op, $"w->group_size = {w.GroupSize} must be 32, 64 or 128");
        if (w.K < 1 || w.K % w.GroupSize != 0) Fail(op, $"w->k = {w.K} must be a positive multiple of w->group_size = {w.GroupSize}");
        if (w.ScaleDType is not (EngramDType.F32 or EngramDType.F16))
            Fail(op, $"w->scale_dtype = {DTypes.Name(w.ScaleDType)}: scales and zeros are f32 or f16");
        if (w.Layout is not (QLayout.Plain or QLayout.CpuPrepared)) Fail(op, $"w->layout = {(int)w.Layout} is not an engram_qlayout");
        if (w.Codes.Length != QMatmulChecks.CodeWords(w.NOut, w.K, w.Layout))
            Fail(op, $"w->code_words = {w.Codes.Length}, expected {QMatmulChecks.CodeWords(w.NOut, w.K, w.Layout)}");
        if (yDType != EngramDType.F32 && yDType != xDType)
            Fail(op, $"y_dtype = {DTypes.Name(yDType)}: y is f32 or x's dtype ({DTypes.Name(xDType)})");
        if (m * w.NOut > int.MaxValue || m * w.K > int.MaxValue)
            throw new EngramException(EngramStatus.Unsupported, $"{op}: m = {m} × {w.NOut} × {w.K} is too large for the ILGPU port (int32 indexing)");
        CceChecks.NoOverlap(op, y, "y", x, "x");
        long groups = w.NOut * (w.K / w.GroupSize);
        var prm = new QMatmulKernelParams
        {
            M = (int)m,
            NOut = (int)w.NOut,
            K = (int)w.K,
            GroupSize = w.GroupSize,
            Prepared = w.Layout == QLayout.CpuPrepared ? 1 : 0,
        };
        using var gate = _engine.Gate.EnterScope();
        using var scope = _engine.Scratch.Scope();
        var dx = scope.UploadWidened(x, xDType, m * w.K);
        var dc = scope.Upload(w.Codes);
        var ds = scope.UploadWidened(w.Scales, w.ScaleDType, groups);
        var dz = scope.UploadWidened(w.Zeros, w.ScaleDType, groups);
        var dy = scope.Zeros<float>(m * w.NOut);
        _gemv((int)(m * w.NOut), dx.View, dc.View, ds.View, dz.View, dy.View, prm);
        _engine.Accelerator.Synchronize();
        DTypes.FromSingle(dy.GetAsArray1D(), yDType, y);
        _engine.RecordOp(EngramOp.Qmatmul, new Dictionary<string, ulong>
        {
            // As libengram: the codes of the n_out rows (not the prepared layout's padding rows), scales and zeros.
            ["weight_bytes"] = (ulong)(w.NOut * (w.K / 16) * 4 + w.Scales.Length + w.Zeros.Length),
            ["dequant_tiles"] = 0,
        });
    }

    public void QuantizeRtn(long nOut, long k, EngramDType wDType, ReadOnlySpan<byte> w, int groupSize,
        EngramDType scaleDType, Span<uint> codes, Span<byte> scales, Span<byte> zeros) => NoPort(EngramOp.QmatmulQuantizeRtn);

    public void QuantizeRefine(long nOut, long k, EngramDType wDType, ReadOnlySpan<byte> w, int groupSize,
        EngramDType scaleDType, ReadOnlySpan<float> h, int iterations, Span<uint> codes, Span<byte> scales,
        Span<byte> zeros) => NoPort(EngramOp.QmatmulQuantizeRefine);

    public void Pack(long nOut, long k, ReadOnlySpan<byte> codes, Span<uint> words) => NoPort(EngramOp.QmatmulPack);

    public void Unpack(long nOut, long k, ReadOnlySpan<uint> words, Span<byte> codes) => NoPort(EngramOp.QmatmulUnpack);

    public void Prepare(long nOut, long k, ReadOnlySpan<uint> plain, Span<uint> prepared) => NoPort(EngramOp.QmatmulPrepare);

    public void Unprepare(long nOut, long k, ReadOnlySpan<uint> prepared, Span<uint> plain) => NoPort(EngramOp.QmatmulUnprepare);

    // Never reached through a context: the op table has no entry for these, so they are routed elsewhere.
    private static void NoPort(EngramOp op) =>
        throw new EngramException(EngramStatus.Unsupported, $"{EngramOps.Display(op)} has no ILGPU port");

    private static void Fail(string op, string message) => throw new EngramArgumentException($"{op}: {message}");
}
