using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// Packed 2-bit weights (engram_qmatmul.h): the product y [m, NOut] = x [m, K] · Ŵᵀ, the RTN and
/// decoupleQ-refined quantizers, and the code layout conversions. Span lengths are checked here
/// (<see cref="ArgumentException"/> naming the span); every other rule is libengram's
/// (<see cref="EngramArgumentException"/>).
/// </summary>
public static class QMatmul
{
    /// <summary>Words of code storage for an nOut × k matrix in <paramref name="layout"/> (k a multiple of 16).</summary>
    /// <exception cref="ArgumentException">An invalid shape.</exception>
    public static long CodeWords(long nOut, long k, QLayout layout = QLayout.Plain) =>
        QMatmulChecks.CodeWords(nOut, k, layout)
        ?? throw new ArgumentException($"no code storage for nOut={nOut}, k={k} ({layout}): nOut ≥ 1 and k a positive multiple of 16", nameof(k));

    /// <summary>
    /// y [m, NOut] = x [m, K] · Ŵᵀ. <typeparamref name="TX"/> float, Half or BFloat16; <typeparamref name="TY"/>
    /// float or TX (rounded once).
    /// </summary>
    public static void Multiply<TX, TY, TScale>(EngramContext context, QuantizedMatrix<TScale> w, long m,
        ReadOnlySpan<TX> x, Span<TY> y) where TX : unmanaged where TY : unmanaged where TScale : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(w);
        var xd = DTypes.OfFloat<TX>(nameof(x));
        var yd = DTypes.OfFloat<TY>(nameof(y));
        QMatmulChecks.Length(x.Length, ScanChecks.Elements(m, w.K), nameof(x), "m·K");
        QMatmulChecks.Length(y.Length, ScanChecks.Elements(m, w.NOut), nameof(y), "m·NOut");
        context.QMatmul(EngramOp.Qmatmul, xd).Multiply(w.Host(), m, xd, MemoryMarshal.AsBytes(x), yd,
            MemoryMarshal.AsBytes(y));
    }

    /// <summary>
    /// Round-to-nearest quantization with per-group min/max of w [nOut, k] (float, Half or BFloat16):
    /// z = min, s = (max − min)/3 in <typeparamref name="TScale"/> (float or Half), plain-layout codes.
    /// </summary>
    public static QuantizedMatrix<TScale> QuantizeRtn<T, TScale>(EngramContext context, long nOut, long k,
        ReadOnlySpan<T> w, int groupSize = 128) where T : unmanaged where TScale : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var (wd, sd, codes, scales, zeros) = Outputs<T, TScale>(nOut, k, w, groupSize);
        context.QMatmul(EngramOp.QmatmulQuantizeRtn, wd).QuantizeRtn(nOut, k, wd, MemoryMarshal.AsBytes(w), groupSize,
            sd, codes, MemoryMarshal.AsBytes(scales.AsSpan()), MemoryMarshal.AsBytes(zeros.AsSpan()));
        return new QuantizedMatrix<TScale>(nOut, k, groupSize, codes, scales, zeros);
    }

    /// <summary>
    /// decoupleQ-style refinement of RTN for calibration statistics <paramref name="h"/> = XᵀX [k, k]:
    /// <paramref name="iterations"/> (0..100) alternations of least-squares s, z and GPTQ-style re-rounding;
    /// the layer-output error is never above RTN's.
    /// </summary>
    public static QuantizedMatrix<TScale> QuantizeRefine<T, TScale>(EngramContext context, long nOut, long k,
        ReadOnlySpan<T> w, ReadOnlySpan<float> h, int iterations, int groupSize = 128)
        where T : unmanaged where TScale : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var (wd, sd, codes, scales, zeros) = Outputs<T, TScale>(nOut, k, w, groupSize);
        QMatmulChecks.Length(h.Length, ScanChecks.Elements(k, k), nameof(h), "k·k");
        context.QMatmul(EngramOp.QmatmulQuantizeRefine, wd).QuantizeRefine(nOut, k, wd, MemoryMarshal.AsBytes(w),
            groupSize, sd, h, iterations, codes, MemoryMarshal.AsBytes(scales.AsSpan()), MemoryMarshal.AsBytes(zeros.AsSpan()));
        return new QuantizedMatrix<TScale>(nOut, k, groupSize, codes, scales, zeros);
    }

    /// <summary>Codes [nOut, k], one (0..3) per byte → plain words.</summary>
    public static void Pack(EngramContext context, long nOut, long k, ReadOnlySpan<byte> codes, Span<uint> words)
    {
        ArgumentNullException.ThrowIfNull(context);
        QMatmulChecks.Length(codes.Length, ScanChecks.Elements(nOut, k), nameof(codes), "nOut·k");
        QMatmulChecks.Length(words.Length, QMatmulChecks.CodeWords(nOut, k, QLayout.Plain), nameof(words), "plain code words");
        context.QMatmul(EngramOp.QmatmulPack, EngramDType.U2).Pack(nOut, k, codes, words);
    }

    /// <summary>Plain words → codes [nOut, k], one per byte.</summary>
    public static void Unpack(EngramContext context, long nOut, long k, ReadOnlySpan<uint> words, Span<byte> codes)
    {
        ArgumentNullException.ThrowIfNull(context);
        QMatmulChecks.Length(words.Length, QMatmulChecks.CodeWords(nOut, k, QLayout.Plain), nameof(words), "plain code words");
        QMatmulChecks.Length(codes.Length, ScanChecks.Elements(nOut, k), nameof(codes), "nOut·k");
        context.QMatmul(EngramOp.QmatmulUnpack, EngramDType.U2).Unpack(nOut, k, words, codes);
    }

    /// <summary>Plain words → CPU-prepared words (padding rows zero).</summary>
    public static void Prepare(EngramContext context, long nOut, long k, ReadOnlySpan<uint> plain, Span<uint> prepared)
    {
        ArgumentNullException.ThrowIfNull(context);
        QMatmulChecks.Length(plain.Length, QMatmulChecks.CodeWords(nOut, k, QLayout.Plain), nameof(plain), "plain code words");
        QMatmulChecks.Length(prepared.Length, QMatmulChecks.CodeWords(nOut, k, QLayout.CpuPrepared), nameof(prepared), "prepared code words");
        context.QMatmul(EngramOp.QmatmulPrepare, EngramDType.U2).Prepare(nOut, k, plain, prepared);
    }

    /// <summary>CPU-prepared words → plain words (non-zero padding is rejected).</summary>
    public static void Unprepare(EngramContext context, long nOut, long k, ReadOnlySpan<uint> prepared, Span<uint> plain)
    {
        ArgumentNullException.ThrowIfNull(context);
        QMatmulChecks.Length(prepared.Length, QMatmulChecks.CodeWords(nOut, k, QLayout.CpuPrepared), nameof(prepared), "prepared code words");
        QMatmulChecks.Length(plain.Length, QMatmulChecks.CodeWords(nOut, k, QLayout.Plain), nameof(plain), "plain code words");
        context.QMatmul(EngramOp.QmatmulUnprepare, EngramDType.U2).Unprepare(nOut, k, prepared, plain);
    }

    // The quantizers' outputs, sized from the shape; an invalid shape gets empty arrays (libengram rejects it).
    private static (EngramDType W, EngramDType S, uint[] Codes, TScale[] Scales, TScale[] Zeros) Outputs<T, TScale>(
        long nOut, long k, ReadOnlySpan<T> w, int groupSize) where T : unmanaged where TScale : unmanaged
    {
        var wd = DTypes.OfFloat<T>(nameof(w));
        var sd = QMatmulChecks.ScaleDType<TScale>("TScale");
        QMatmulChecks.Length(w.Length, ScanChecks.Elements(nOut, k), nameof(w), "nOut·k");
        long words = QMatmulChecks.CodeWords(nOut, k, QLayout.Plain) ?? 0;
        long groups = QMatmulChecks.Groups(nOut, k, groupSize) ?? 0;
        return (wd, sd, new uint[words], new TScale[groups], new TScale[groups]);
    }
}
