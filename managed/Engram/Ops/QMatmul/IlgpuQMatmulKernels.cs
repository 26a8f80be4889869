using ILGPU;

namespace Engram.Ops;

/// <summary>Scalars of one 2-bit product launch.</summary>
internal struct QMatmulKernelParams
{
    public int M;
    public int NOut;
    public int K;
    public int GroupSize;
    public int Prepared;    // 1: CPU-prepared code layout
}

/// <summary>
/// The 2-bit product as an ILGPU kernel (GEMV for m = 1, row by row for larger m): one thread per output
/// y[i, r], which walks row r's code words along k, unpacks each code, dequantises it as s·q + z (in
/// double, then rounded once to fp32: the exact fma of libengram except at double-rounding ties) and
/// accumulates x[i, c]·ŵ in fp32 in column order. Reads either code layout.
/// </summary>
internal static class IlgpuQMatmulKernels
{
    public static void Gemv(Index1D index, ArrayView<float> x, ArrayView<uint> codes, ArrayView<float> scales,
        ArrayView<float> zeros, ArrayView<float> y, QMatmulKernelParams p)
    {
        int i = index / p.NOut, r = index % p.NOut;
        int words = p.K / 16, groups = p.K / p.GroupSize;
        long xo = (long)i * p.K;
        float acc = 0f;
        for (int w = 0; w < words; w++)
        {
            long wi = p.Prepared != 0 ? ((long)(r / 4) * words + w) * 4 + r % 4 : (long)r * words + w;
            uint word = codes[wi];
            for (int j = 0; j < 16; j++)
            {
                int c = w * 16 + j;
                long gi = (long)r * groups + c / p.GroupSize;
                double q = (word >> (2 * j)) & 3u;
                float deq = (float)(q * scales[gi] + zeros[gi]);
                acc += x[xo + c] * deq;
            }
        }
        y[index] = acc;
    }
}
