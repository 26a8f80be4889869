using System.Runtime.InteropServices;
using Engram.Ops;

namespace Engram.Tests;

/// <summary>Float64 references of the 2-bit weight format (engram_qmatmul.h).</summary>
internal static class QMatmulReference
{
    public static double Scale<TScale>(QuantizedMatrix<TScale> w, long i) where TScale : unmanaged =>
        typeof(TScale) == typeof(Half) ? (double)(Half)(object)w.Scales[i] : (float)(object)w.Scales[i];

    public static double Zero<TScale>(QuantizedMatrix<TScale> w, long i) where TScale : unmanaged =>
        typeof(TScale) == typeof(Half) ? (double)(Half)(object)w.Zeros[i] : (float)(object)w.Zeros[i];

    /// <summary>Code of (r, c) from plain words.</summary>
    public static int Code(uint[] plain, long k, long r, long c) => (int)((plain[r * (k / 16) + c / 16] >> (int)(2 * (c % 16))) & 3);

    /// <summary>Ŵ [nOut, k] as libengram dequantises: fma(q, s, z) rounded once to fp32.</summary>
    public static double[] Dequantize<TScale>(QuantizedMatrix<TScale> w, uint[] plain) where TScale : unmanaged
    {
        var result = new double[w.NOut * w.K];
        long groups = w.K / w.GroupSize;
        for (long r = 0; r < w.NOut; r++)
        for (long c = 0; c < w.K; c++)
        {
            long g = r * groups + c / w.GroupSize;
            result[r * w.K + c] = (float)(Code(plain, w.K, r, c) * Scale(w, g) + Zero(w, g));
        }
        return result;
    }

    /// <summary>y [m, nOut] = x · Ŵᵀ in float64, and Σ|x ŵ| per entry (the error scale).</summary>
    public static (double[] Y, double[] Magnitude) Multiply(double[] wHat, long nOut, long k, float[] x, long m)
    {
        var y = new double[m * nOut];
        var mag = new double[m * nOut];
        for (long i = 0; i < m; i++)
        for (long r = 0; r < nOut; r++)
        for (long c = 0; c < k; c++)
        {
            double t = x[i * k + c] * wHat[r * k + c];
            y[i * nOut + r] += t;
            mag[i * nOut + r] += Math.Abs(t);
        }
        return (y, mag);
    }

    /// <summary>Values rounded through <typeparamref name="T"/>: the array of T and its widened floats.</summary>
    public static (T[] Raw, float[] Widened) Round<T>(float[] src) where T : unmanaged
    {
        var dtype = DTypes.OfFloat<T>("T");
        var raw = new T[src.Length];
        DTypes.FromSingle(src, dtype, MemoryMarshal.AsBytes(raw.AsSpan()));
        var back = new float[src.Length];
        DTypes.ToSingle(MemoryMarshal.AsBytes(raw.AsSpan()), dtype, back);
        return (raw, back);
    }

    /// <summary>
    /// Products in <typeparamref name="TX"/>/<typeparamref name="TY"/> on <paramref name="ctx"/> against the
    /// float64 reference. Error model: fp32 accumulation over k terms, 2·k·2⁻²⁴·Σ|x ŵ|, plus half an ulp of a
    /// 16-bit y.
    /// </summary>
    public static void CheckMultiply<TX, TY, TScale>(EngramContext ctx, EngramContext nativeCtx, long m, long nOut, long k,
        int groupSize, QLayout layout, int seed)
        where TX : unmanaged where TY : unmanaged where TScale : unmanaged
    {
        var rng = new Random(seed);
        var wf = TestSupport.Uniform(rng, (int)(nOut * k));
        var w = QMatmul.QuantizeRtn<float, TScale>(nativeCtx, nOut, k, wf, groupSize);
        var wHat = Dequantize(w, w.Codes);
        if (layout == QLayout.CpuPrepared) w = w.Prepare(nativeCtx);
        var (x, xf) = Round<TX>(TestSupport.Uniform(rng, (int)(m * k), 2));
        var y = new TY[m * nOut];
        QMatmul.Multiply<TX, TY, TScale>(ctx, w, m, x, y);
        var yd = DTypes.OfFloat<TY>("TY");
        var yf = new float[y.Length];
        DTypes.ToSingle(MemoryMarshal.AsBytes(y.AsSpan()), yd, yf);
        var (e, mag) = Multiply(wHat, nOut, k, xf, m);
        for (int i = 0; i < yf.Length; i++)
        {
            double tol = 1e-6 + 2.0 * k * Math.Pow(2, -24) * mag[i] + ScanTests.OutputUlp(yd) * Math.Abs(e[i]);
            if (!(Math.Abs(yf[i] - e[i]) <= tol))
                Assert.Fail($"y[{i}] = {yf[i]}, expected {e[i]} ± {tol:E2} (m={m} nOut={nOut} k={k} G={groupSize} {layout})");
        }
    }
}

/// <summary>
/// The 2-bit weight family through the .NET layer on libengram's CPU backend: quantizers against their
/// definitions, products against dequantise-then-matmul in float64 (N_out = 1, m = 1..17, both layouts,
/// every dtype), layout round trips, and every managed length check.
/// </summary>
public sealed class QMatmulTests
{
    private EngramContext _ctx = null!;

    [OneTimeSetUp]
    public void Open() => _ctx = EngramContext.Create(EngramBackend.NativeCpu);

    [OneTimeTearDown]
    public void Close() => _ctx.Dispose();

    [TestCase(1, 1, 32, 32, QLayout.Plain)]
    [TestCase(1, 7, 64, 32, QLayout.CpuPrepared)]
    [TestCase(3, 5, 192, 64, QLayout.Plain)]
    [TestCase(17, 6, 128, 128, QLayout.CpuPrepared)]
    [TestCase(16, 9, 96, 32, QLayout.Plain)]
    public void F32MatchesDequantiseThenMatmul(int m, int nOut, int k, int g, QLayout layout) =>
        QMatmulReference.CheckMultiply<float, float, float>(_ctx, _ctx, m, nOut, k, g, layout, seed: m * 31 + nOut);

    [Test]
    public void SixteenBitActivationsOutputsAndScales()
    {
        QMatmulReference.CheckMultiply<Half, Half, Half>(_ctx, _ctx, 2, 5, 64, 32, QLayout.Plain, 1);
        QMatmulReference.CheckMultiply<BFloat16, BFloat16, float>(_ctx, _ctx, 3, 4, 64, 64, QLayout.CpuPrepared, 2);
        QMatmulReference.CheckMultiply<BFloat16, float, Half>(_ctx, _ctx, 17, 3, 128, 32, QLayout.Plain, 3);
        QMatmulReference.CheckMultiply<Half, float, float>(_ctx, _ctx, 1, 1, 32, 32, QLayout.CpuPrepared, 4);
    }

    [Test]
    public void BothLayoutsGiveBitIdenticalProducts()
    {
        var rng = new Random(6);
        var w = QMatmul.QuantizeRtn<float, float>(_ctx, 10, 64, TestSupport.Uniform(rng, 640), 32);
        var x = TestSupport.Uniform(rng, 5 * 64);
        var y1 = new float[50];
        var y2 = new float[50];
        QMatmul.Multiply<float, float, float>(_ctx, w, 5, x, y1);
        QMatmul.Multiply<float, float, float>(_ctx, w.Prepare(_ctx), 5, x, y2);
        Assert.That(y2, Is.EqualTo(y1));
        Assert.That(_ctx.LastOpStats.Op, Is.EqualTo(EngramOp.Qmatmul));
        Assert.That(_ctx.LastOpStats.Counter("weight_bytes"), Is.EqualTo((ulong)(10 * 4 * 4 + 2 * 20 * 4)), "codes of the 10 rows (not the prepared padding) + scales + zeros");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void RtnFollowsItsDefinition(bool f16Scales)
    {
        if (f16Scales) Run<Half>(Math.Pow(2, -10));
        else Run<float>(Math.Pow(2, -23));

        void Run<TScale>(double ulp) where TScale : unmanaged
        {
            const int nOut = 5, k = 96, g = 32;
            var rng = new Random(12);
            var wf = TestSupport.Uniform(rng, nOut * k, 3);
            for (int c = 0; c < g; c++) wf[2 * k + 32 + c] = 0.75f; // an all-equal group: s = 0
            var w = QMatmul.QuantizeRtn<float, TScale>(_ctx, nOut, k, wf, g);
            Assert.That(w.Layout, Is.EqualTo(QLayout.Plain));
            for (int r = 0; r < nOut; r++)
            for (int gi = 0; gi < k / g; gi++)
            {
                var group = wf.AsSpan(r * k + gi * g, g).ToArray();
                double min = group.Min(), max = group.Max();
                double s = QMatmulReference.Scale(w, r * (k / g) + gi), z = QMatmulReference.Zero(w, r * (k / g) + gi);
                Assert.That(z, Is.EqualTo(min).Within(ulp * Math.Abs(min)), $"z of row {r} group {gi}");
                Assert.That(s, Is.EqualTo((max - min) / 3).Within(ulp * (max - min) / 3 + 1e-12), $"s of row {r} group {gi}");
                for (int c = 0; c < g; c++)
                {
                    int q = QMatmulReference.Code(w.Codes, k, r, gi * g + c);
                    if (s == 0)
                    {
                        Assert.That(q, Is.Zero, "q = 0 where s = 0");
                        continue;
                    }
                    double exact = (group[c] - z) / s;
                    if (Math.Abs(exact - Math.Floor(exact) - 0.5) < 1e-3) continue; // a tie within rounding: either code
                    Assert.That(q, Is.EqualTo((int)Math.Clamp(Math.Round(exact), 0, 3)), $"q of row {r} column {gi * g + c}");
                }
            }
        }
    }

    [Test]
    public void RefineNeverLosesToRtnAndZeroIterationsIsRtn()
    {
        const int nOut = 6, k = 64, n = 96, g = 32;
        var rng = new Random(17);
        var wf = TestSupport.Uniform(rng, nOut * k);
        // Correlated calibration inputs, so that H = XᵀX is far from diagonal.
        var basis = TestSupport.Uniform(rng, 8 * k);
        var x = new double[n * k];
        for (int i = 0; i < n; i++)
        {
            var coef = TestSupport.Uniform(rng, 8);
            for (int c = 0; c < k; c++)
            {
                double acc = 0.05 * (rng.NextDouble() - 0.5);
                for (int b = 0; b < 8; b++) acc += coef[b] * basis[b * k + c];
                x[i * k + c] = acc;
            }
        }
        var h = new float[k * k];
        for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++)
        {
            double acc = 0;
            for (int i = 0; i < n; i++) acc += x[i * k + a] * x[i * k + b];
            h[a * k + b] = (float)acc;
        }
        double Error(QuantizedMatrix<float> q)
        {
            var wHat = QMatmulReference.Dequantize(q, q.Codes);
            double total = 0;
            for (int r = 0; r < nOut; r++)
            for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                total += (wf[r * k + a] - wHat[r * k + a]) * (double)h[a * k + b] * (wf[r * k + b] - wHat[r * k + b]);
            return total;
        }
        var rtn = QMatmul.QuantizeRtn<float, float>(_ctx, nOut, k, wf, g);
        var zero = QMatmul.QuantizeRefine<float, float>(_ctx, nOut, k, wf, h, 0, g);
        var refined = QMatmul.QuantizeRefine<float, float>(_ctx, nOut, k, wf, h, 4, g);
        Assert.That(zero.Codes, Is.EqualTo(rtn.Codes));
        Assert.That(zero.Scales, Is.EqualTo(rtn.Scales));
        Assert.That(zero.Zeros, Is.EqualTo(rtn.Zeros));
        double eRtn = Error(rtn), eRefined = Error(refined);
        TestContext.Out.WriteLine($"layer-output error: RTN {eRtn:E4}, refined (4 iterations) {eRefined:E4}");
        Assert.That(eRefined, Is.LessThan(eRtn));
    }

    [Test]
    public void PackUnpackPrepareRoundTripsAndFollowTheDocumentedLayouts()
    {
        const int nOut = 7, k = 48; // rows not a multiple of 4: prepared padding
        var rng = new Random(3);
        var codes = Enumerable.Range(0, nOut * k).Select(_ => (byte)rng.Next(4)).ToArray();
        var words = new uint[QMatmul.CodeWords(nOut, k)];
        QMatmul.Pack(_ctx, nOut, k, codes, words);
        for (int r = 0; r < nOut; r++)
        for (int c = 0; c < k; c++)
            Assert.That(QMatmulReference.Code(words, k, r, c), Is.EqualTo(codes[r * k + c]), $"bit order at ({r}, {c})");
        var back = new byte[codes.Length];
        QMatmul.Unpack(_ctx, nOut, k, words, back);
        Assert.That(back, Is.EqualTo(codes));
        var prepared = new uint[QMatmul.CodeWords(nOut, k, QLayout.CpuPrepared)];
        Assert.That(prepared.Length, Is.EqualTo(8 * 3));
        QMatmul.Prepare(_ctx, nOut, k, words, prepared);
        const int W = k / 16;
        for (int r = 0; r < 8; r++)
        for (int w = 0; w < W; w++)
            Assert.That(prepared[((r / 4) * W + w) * 4 + r % 4], Is.EqualTo(r < nOut ? words[r * W + w] : 0u), $"prepared ({r}, {w})");
        var plain = new uint[words.Length];
        QMatmul.Unprepare(_ctx, nOut, k, prepared, plain);
        Assert.That(plain, Is.EqualTo(words));
        prepared[^1] = 1; // a padding word that is not zero
        Assert.Throws<EngramArgumentException>(() => QMatmul.Unprepare(_ctx, nOut, k, prepared, plain));
    }

    [Test]
    public void QuantizedMatrixRoundTripsThroughItsMethods()
    {
        var rng = new Random(5);
        var w = QMatmul.QuantizeRtn<float, float>(_ctx, 3, 32, TestSupport.Uniform(rng, 96), 32);
        var p = w.Prepare(_ctx);
        Assert.That(p.Layout, Is.EqualTo(QLayout.CpuPrepared));
        Assert.That(p.ToPlain(_ctx).Codes, Is.EqualTo(w.Codes));
        Assert.That(p.UnpackCodes(_ctx), Is.EqualTo(w.UnpackCodes(_ctx)));
    }

    [Test]
    public void CodeAbove3IsRejectedByLibengram()
    {
        var codes = new byte[16];
        codes[5] = 4;
        var e = Assert.Throws<EngramArgumentException>(() => QMatmul.Pack(_ctx, 1, 16, codes, new uint[1]))!;
        Assert.That(e.Message, Does.Contain("codes"));
    }

    [Test]
    public void GroupNotDividingKIsRejectedByLibengram()
    {
        var e = Assert.Throws<EngramArgumentException>(() => QMatmul.QuantizeRtn<float, float>(_ctx, 2, 48, new float[96], 32))!;
        Assert.That(e.Message, Does.Contain("group_size").Or.Contain("k"));
    }

    // --- every managed length check ---

    private static void ExpectLength(TestDelegate call, string name)
    {
        var e = Assert.Throws<ArgumentException>(call)!;
        Assert.That(e.ParamName, Is.EqualTo(name));
        Assert.That(e, Is.Not.InstanceOf<EngramArgumentException>());
    }

    [Test] public void MatrixShortCodes() => ExpectLength(() => new QuantizedMatrix<float>(3, 64, 32, new uint[11], new float[6], new float[6]), "codes");
    [Test] public void MatrixPreparedCodesOfPlainLength() => ExpectLength(() => new QuantizedMatrix<float>(3, 64, 32, new uint[12], new float[6], new float[6], QLayout.CpuPrepared), "codes");
    [Test] public void MatrixShortScales() => ExpectLength(() => new QuantizedMatrix<float>(3, 64, 32, new uint[12], new float[5], new float[6]), "scales");
    [Test] public void MatrixShortZeros() => ExpectLength(() => new QuantizedMatrix<float>(3, 64, 32, new uint[12], new float[6], new float[7]), "zeros");
    [Test] public void MatrixBf16ScalesAreNotAScaleType() => ExpectLength(() => new QuantizedMatrix<BFloat16>(3, 64, 32, new uint[12], new BFloat16[6], new BFloat16[6]), "scales");

    private static QuantizedMatrix<float> Matrix() => new(3, 64, 32, new uint[12], new float[6], new float[6]);

    [Test] public void MultiplyShortX() => ExpectLength(() => QMatmul.Multiply<float, float, float>(_ctx, Matrix(), 2, new float[127], new float[6]), "x");
    [Test] public void MultiplyShortY() => ExpectLength(() => QMatmul.Multiply<float, float, float>(_ctx, Matrix(), 2, new float[128], new float[5]), "y");
    [Test] public void QuantizeShortW() => ExpectLength(() => QMatmul.QuantizeRtn<float, float>(_ctx, 3, 64, new float[191], 32), "w");
    [Test] public void RefineShortH() => ExpectLength(() => QMatmul.QuantizeRefine<float, float>(_ctx, 3, 64, new float[192], new float[64 * 64 - 1], 1, 32), "h");
    [Test] public void PackShortCodes() => ExpectLength(() => QMatmul.Pack(_ctx, 3, 64, new byte[191], new uint[12]), "codes");
    [Test] public void PackShortWords() => ExpectLength(() => QMatmul.Pack(_ctx, 3, 64, new byte[192], new uint[11]), "words");
    [Test] public void UnpackShortWords() => ExpectLength(() => QMatmul.Unpack(_ctx, 3, 64, new uint[11], new byte[192]), "words");
    [Test] public void UnpackShortCodes() => ExpectLength(() => QMatmul.Unpack(_ctx, 3, 64, new uint[12], new byte[191]), "codes");
    [Test] public void PrepareShortPlain() => ExpectLength(() => QMatmul.Prepare(_ctx, 3, 64, new uint[11], new uint[16]), "plain");
    [Test] public void PrepareShortPrepared() => ExpectLength(() => QMatmul.Prepare(_ctx, 3, 64, new uint[12], new uint[15]), "prepared");
    [Test] public void UnprepareShortPrepared() => ExpectLength(() => QMatmul.Unprepare(_ctx, 3, 64, new uint[15], new uint[12]), "prepared");
    [Test] public void UnprepareShortPlain() => ExpectLength(() => QMatmul.Unprepare(_ctx, 3, 64, new uint[16], new uint[11]), "plain");

    [Test]
    public void CodeWordsOfAnInvalidShapeIsAnArgumentError() =>
        Assert.Throws<ArgumentException>(() => QMatmul.CodeWords(2, 40));
}
