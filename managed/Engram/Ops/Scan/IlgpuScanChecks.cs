using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// The argument rules of libengram's scan entry points (native/src/ops/scan), applied by the ILGPU
/// port, which never calls libengram: the same exception types (INVALID_ARGUMENT as
/// <see cref="EngramArgumentException"/>). Span lengths were checked by <see cref="Scan"/>.
/// </summary>
internal static class IlgpuScanChecks
{
    public static void Forward(string op, in ScanHostProblem p, ScanOptions o, EngramDType outputDType,
        ReadOnlySpan<byte> output, ReadOnlySpan<float> state, bool decode)
    {
        var s = p.Shape;
        Dim(op, s.Batch, "in->batch");
        Dim(op, s.T, "in->t");
        Dim(op, s.Heads, "in->heads");
        Dim(op, s.KDim, "in->k_dim");
        Dim(op, s.VDim, "in->v_dim");
        if (s.KDim > ScanShape.MaxHeadDim) Fail(op, $"in->k_dim = {s.KDim} exceeds the maximum {ScanShape.MaxHeadDim}");
        if (s.VDim > ScanShape.MaxHeadDim) Fail(op, $"in->v_dim = {s.VDim} exceeds the maximum {ScanShape.MaxHeadDim}");
        if (s.QkHeads < 0 || s.QkHeadCount > s.Heads || s.Heads % s.QkHeadCount != 0)
            Fail(op, $"in->qk_heads = {s.QkHeads} must divide in->heads = {s.Heads} (0 = heads)");
        if (decode && s.T != 1) Fail(op, $"in->t = {s.T}: the decode step takes one token per sequence (t = 1)");
        if (!Enum.IsDefined(p.Gate)) Fail(op, $"in->gate = {(int)p.Gate} is not an engram_scan_gate");
        if (p.Gate == ScanGate.None && !p.G.IsEmpty) Fail(op, "in->g must be NULL for gate NONE");
        if (p.Gate != ScanGate.None && p.G.IsEmpty) Fail(op, $"in->g is NULL but the gate is {p.Gate}");
        if (o.ChunkSize < 0 || o.ChunkSize > ScanOptions.MaxChunkSize)
            Fail(op, $"opts->chunk_size = {o.ChunkSize} must be in [1, {ScanOptions.MaxChunkSize}] (0 = default)");
        if (!float.IsFinite(o.Scale)) Fail(op, $"opts->scale = {o.Scale} must be finite");
        if (outputDType != EngramDType.F32 && outputDType != p.DType)
            Fail(op, $"opts->output_dtype = {DTypes.Name(outputDType)}: the output is f32 or the inputs' dtype ({DTypes.Name(p.DType)})");
        // The kernels index buffers with int32 element counts: g [B, T, H, K], v/o [B, T, H, V], states [B, H, K, V].
        if (Int32Overflow(s.Batch, s.T, s.Heads, Math.Max(s.KDim, s.VDim)) || Int32Overflow(s.Batch, s.Heads, s.KDim, s.VDim))
            throw new EngramException(EngramStatus.Unsupported, $"ilgpu {op}: {s} is too large for the ILGPU port (int32 indexing)");
        ReadOnlySpan<byte> outBytes = output;
        var stateBytes = MemoryMarshal.AsBytes(state);
        var initial = MemoryMarshal.AsBytes(p.InitialState);
        NoOverlap(op, outBytes, "o", p.Q, "in->q");
        NoOverlap(op, outBytes, "o", p.K, "in->k");
        NoOverlap(op, outBytes, "o", p.V, "in->v");
        NoOverlap(op, outBytes, "o", MemoryMarshal.AsBytes(p.G), "in->g");
        NoOverlap(op, outBytes, "o", initial, "in->initial_state");
        NoOverlap(op, outBytes, "o", stateBytes, decode ? "state_out" : "final_state");
        NoOverlap(op, stateBytes, decode ? "state_out" : "final_state", p.Q, "in->q");
        NoOverlap(op, stateBytes, decode ? "state_out" : "final_state", p.K, "in->k");
        NoOverlap(op, stateBytes, decode ? "state_out" : "final_state", p.V, "in->v");
        NoOverlap(op, stateBytes, decode ? "state_out" : "final_state", MemoryMarshal.AsBytes(p.G), "in->g");
        // The decode step may update the state in place (state_out == initial_state exactly).
        bool inPlace = decode && !initial.IsEmpty && initial.Length == stateBytes.Length &&
                       SameStart(initial, stateBytes);
        if (!inPlace) NoOverlap(op, stateBytes, decode ? "state_out" : "final_state", initial, "in->initial_state");
    }

    private static bool Int32Overflow(params long[] sizes) => ScanChecks.Elements(sizes) is not { } n || n > int.MaxValue;

    private static bool SameStart(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) =>
        System.Runtime.CompilerServices.Unsafe.AreSame(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b));

    private static void Dim(string op, long value, string name)
    {
        if (value <= 0) Fail(op, $"{name} must be positive, got {value}");
    }

    private static void NoOverlap(string op, ReadOnlySpan<byte> a, string an, ReadOnlySpan<byte> b, string bn) =>
        CceChecks.NoOverlap("ilgpu " + op, a, an, b, bn);

    private static void Fail(string op, string message) => throw new EngramArgumentException($"ilgpu {op}: {message}");
}
