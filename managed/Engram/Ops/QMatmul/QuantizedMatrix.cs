using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>The layout of 2-bit code words (<c>engram_qlayout</c>).</summary>
public enum QLayout
{
    /// <summary>Row r is k/16 consecutive words; code of column c at bits 2(c%16) of word r·(k/16) + c/16.</summary>
    Plain = 0,
    /// <summary>The words of 4 consecutive rows interleaved (rows padded to a multiple of 4 with zero words), for the CPU kernel.</summary>
    CpuPrepared = 1,
}

/// <summary>
/// A 2-bit quantized weight matrix W [NOut, K] (engram_qmatmul.h): Ŵ[r, c] = s[r, c/G]·q[r, c] + z[r, c/G],
/// q in {0..3} packed 16 per uint32 word in <see cref="Layout"/>, scales and zeros [NOut, K/G] of
/// <typeparamref name="TScale"/> (float or Half). Made by <see cref="QMatmul.QuantizeRtn{T, TScale}"/> or
/// <see cref="QMatmul.QuantizeRefine{T, TScale}"/>, or from arrays of your own (lengths checked here, every
/// other rule by libengram when an op reads it).
/// </summary>
public sealed class QuantizedMatrix<TScale> where TScale : unmanaged
{
    /// <summary>Wraps existing arrays (not copied).</summary>
    /// <exception cref="ArgumentException">An array length does not match the shape, or TScale is neither float nor Half.</exception>
    public QuantizedMatrix(long nOut, long k, int groupSize, uint[] codes, TScale[] scales, TScale[] zeros,
        QLayout layout = QLayout.Plain)
    {
        ArgumentNullException.ThrowIfNull(codes);
        ArgumentNullException.ThrowIfNull(scales);
        ArgumentNullException.ThrowIfNull(zeros);
        ScaleDType = QMatmulChecks.ScaleDType<TScale>(nameof(scales));
        QMatmulChecks.Length(codes.Length, QMatmulChecks.CodeWords(nOut, k, layout), nameof(codes), $"code words of {layout}");
        long? groups = QMatmulChecks.Groups(nOut, k, groupSize);
        QMatmulChecks.Length(scales.Length, groups, nameof(scales), "NOut·K/G");
        QMatmulChecks.Length(zeros.Length, groups, nameof(zeros), "NOut·K/G");
        NOut = nOut;
        K = k;
        GroupSize = groupSize;
        Codes = codes;
        Scales = scales;
        Zeros = zeros;
        Layout = layout;
    }

    /// <summary>Rows (output channels).</summary>
    public long NOut { get; }

    /// <summary>Columns (input channels), a multiple of <see cref="GroupSize"/>.</summary>
    public long K { get; }

    /// <summary>G: 32, 64 or 128.</summary>
    public int GroupSize { get; }

    /// <summary>Layout of <see cref="Codes"/>.</summary>
    public QLayout Layout { get; }

    /// <summary>F32 or F16: the dtype of <see cref="Scales"/> and <see cref="Zeros"/>.</summary>
    public EngramDType ScaleDType { get; }

    /// <summary>Code words in <see cref="Layout"/>.</summary>
    public uint[] Codes { get; }

    /// <summary>Scales [NOut, K/G].</summary>
    public TScale[] Scales { get; }

    /// <summary>Zero points [NOut, K/G].</summary>
    public TScale[] Zeros { get; }

    /// <summary>This matrix in the CPU-prepared layout (itself when it is already).</summary>
    public QuantizedMatrix<TScale> Prepare(EngramContext context)
    {
        if (Layout == QLayout.CpuPrepared) return this;
        var words = new uint[QMatmulChecks.CodeWords(NOut, K, QLayout.CpuPrepared) ?? 0];
        QMatmul.Prepare(context, NOut, K, Codes, words);
        return new QuantizedMatrix<TScale>(NOut, K, GroupSize, words, Scales, Zeros, QLayout.CpuPrepared);
    }

    /// <summary>This matrix in the plain layout (itself when it is already).</summary>
    public QuantizedMatrix<TScale> ToPlain(EngramContext context)
    {
        if (Layout == QLayout.Plain) return this;
        var words = new uint[QMatmulChecks.CodeWords(NOut, K, QLayout.Plain) ?? 0];
        QMatmul.Unprepare(context, NOut, K, Codes, words);
        return new QuantizedMatrix<TScale>(NOut, K, GroupSize, words, Scales, Zeros, QLayout.Plain);
    }

    /// <summary>The codes [NOut, K], one per byte (0..3).</summary>
    public byte[] UnpackCodes(EngramContext context)
    {
        var plain = ToPlain(context);
        var codes = new byte[checked(NOut * K)];
        QMatmul.Unpack(context, NOut, K, plain.Codes, codes);
        return codes;
    }

    internal QWeightHost Host() => new(NOut, K, GroupSize, Layout, ScaleDType, Codes,
        MemoryMarshal.AsBytes(Scales.AsSpan()), MemoryMarshal.AsBytes(Zeros.AsSpan()));
}

/// <summary>A quantized matrix as the ports read it.</summary>
internal readonly ref struct QWeightHost
{
    public QWeightHost(long nOut, long k, int groupSize, QLayout layout, EngramDType scaleDType,
        ReadOnlySpan<uint> codes, ReadOnlySpan<byte> scales, ReadOnlySpan<byte> zeros)
    {
        NOut = nOut;
        K = k;
        GroupSize = groupSize;
        Layout = layout;
        ScaleDType = scaleDType;
        Codes = codes;
        Scales = scales;
        Zeros = zeros;
    }

    public long NOut { get; }
    public long K { get; }
    public int GroupSize { get; }
    public QLayout Layout { get; }
    public EngramDType ScaleDType { get; }
    public ReadOnlySpan<uint> Codes { get; }
    public ReadOnlySpan<byte> Scales { get; }
    public ReadOnlySpan<byte> Zeros { get; }
}
