namespace Engram.Ops;

/// <summary>The 2-bit weight family's port on one backend, over host memory (raw bytes of the given dtypes).</summary>
internal interface IQMatmulBackend
{
    void Multiply(in QWeightHost w, long m, EngramDType xDType, ReadOnlySpan<byte> x, EngramDType yDType, Span<byte> y);

    void QuantizeRtn(long nOut, long k, EngramDType wDType, ReadOnlySpan<byte> w, int groupSize, EngramDType scaleDType,
        Span<uint> codes, Span<byte> scales, Span<byte> zeros);

    void QuantizeRefine(long nOut, long k, EngramDType wDType, ReadOnlySpan<byte> w, int groupSize,
        EngramDType scaleDType, ReadOnlySpan<float> h, int iterations, Span<uint> codes, Span<byte> scales,
        Span<byte> zeros);

    void Pack(long nOut, long k, ReadOnlySpan<byte> codes, Span<uint> words);

    void Unpack(long nOut, long k, ReadOnlySpan<uint> words, Span<byte> codes);

    void Prepare(long nOut, long k, ReadOnlySpan<uint> plain, Span<uint> prepared);

    void Unprepare(long nOut, long k, ReadOnlySpan<uint> prepared, Span<uint> plain);
}
