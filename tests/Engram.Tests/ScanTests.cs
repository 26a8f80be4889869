using System.Runtime.InteropServices;
using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// The scan family through the .NET layer on libengram's CPU backend: chunked forward, decode and
/// backward against the float64 recurrence (<see cref="ScanCase"/>), on awkward shapes (T = 1, T not a
/// multiple of the chunk, primes, grouped heads, K ≠ V), every gate and dtype; and every managed span
/// length check. Error model: fp32 accumulation, |error| ≤ 8·(T + K)·2⁻²⁴·Σ|terms| (the same recurrence
/// over |q|, |k|, |v|, |S0|), plus half an ulp of the output dtype when the output is 16-bit.
/// </summary>
public sealed class ScanTests
{
    private EngramContext _ctx = null!;

    [OneTimeSetUp]
    public void Open() => _ctx = EngramContext.Create(EngramBackend.NativeCpu);

    [OneTimeTearDown]
    public void Close() => _ctx.Dispose();

    internal static double OutputUlp(EngramDType dtype) => dtype switch
    {
        EngramDType.BF16 => Math.Pow(2, -8),
        EngramDType.F16 => Math.Pow(2, -10),
        _ => 0,
    };

    /// <summary>Asserts actual within the error model of <paramref name="c"/>.</summary>
    internal static void AssertScan(ReadOnlySpan<float> actual, double[] expected, double[] magnitude, ScanCase c,
        EngramDType outType, string what)
    {
        double fp32 = 8.0 * (c.Shape.T + c.Shape.KDim) * Math.Pow(2, -24);
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = 1e-6 + fp32 * magnitude[i] + OutputUlp(outType) * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}[{i}] = {actual[i]}, expected {expected[i]} ± {tol:E2} ({c.Shape}, gate {c.Gate})");
        }
    }

    /// <summary>The recurrence over absolute values: Σ|terms| of every output and state entry.</summary>
    internal static (double[] O, double[] State) Magnitude(ScanCase c, double scale)
    {
        var abs = new ScanCase(c.Shape, c.Gate, 0, c.S0.Length > 0);
        abs.Q = c.Q.Select(Math.Abs).ToArray();
        abs.K = c.K.Select(Math.Abs).ToArray();
        abs.V = c.V.Select(Math.Abs).ToArray();
        c.G.CopyTo(abs.G, 0);
        for (int i = 0; i < c.S0.Length; i++) abs.S0[i] = Math.Abs(c.S0[i]);
        return abs.Reference(scale);
    }

    private static IEnumerable<TestCaseData> Shapes()
    {
        // B, T, H, K, V, Hk, chunk
        (int, int, int, int, int, int, int)[] shapes =
        [
            (1, 1, 1, 1, 1, 0, 0),       // everything 1
            (2, 7, 3, 5, 3, 1, 4),       // T not a multiple of the chunk, grouped heads (3 value heads on 1 q/k head)
            (1, 13, 2, 16, 7, 0, 5),     // primes, K ≠ V
            (3, 5, 4, 3, 11, 2, 1),      // chunk 1
            (1, 33, 1, 8, 8, 0, 256),    // one chunk larger than T
        ];
        foreach (var (b, t, h, k, v, hk, chunk) in shapes)
        foreach (var gate in new[] { ScanGate.None, ScanGate.Scalar, ScanGate.Vector })
            yield return new TestCaseData(new ScanShape(b, t, h, k, v, hk), gate, chunk)
                .SetArgDisplayNames($"B{b} T{t} H{h} K{k} V{v} Hk{hk} chunk{chunk} {gate}");
    }

    [TestCaseSource(nameof(Shapes))]
    public void ForwardF32MatchesTheRecurrence(ScanShape shape, ScanGate gate, int chunk)
    {
        var c = new ScanCase(shape, gate, seed: 11, initialState: true);
        var o = new ScanOptions { ChunkSize = chunk };
        var output = new float[c.OutLength];
        var final = new float[c.StateLength];
        Scan.LinearForward(_ctx, c.Inputs(), output, final, o);
        double scale = o.ResolvedScale(shape.KDim);
        var (eo, es) = c.Reference(scale);
        var (mo, ms) = Magnitude(c, scale);
        AssertScan(output, eo, mo, c, EngramDType.F32, "o");
        AssertScan(final, es, ms, c, EngramDType.F32, "final_state");
    }

    [TestCase(EngramDType.F16, false)]
    [TestCase(EngramDType.F16, true)]
    [TestCase(EngramDType.BF16, false)]
    [TestCase(EngramDType.BF16, true)]
    public void SixteenBitInputsMatchTheRecurrence(EngramDType dtype, bool f32Output)
    {
        if (dtype == EngramDType.F16) Run<Half>(f32Output);
        else Run<BFloat16>(f32Output);

        void Run<T>(bool f32Out) where T : unmanaged
        {
            var shape = new ScanShape(2, 9, 4, 6, 5, 2);
            var c = new ScanCase(shape, ScanGate.Vector, seed: 5, initialState: true);
            var (q, k, v) = c.As<T>();
            var inputs = new ScanInputs<T>(shape, q, k, v, ScanGate.Vector, c.G, c.S0);
            var o = new ScanOptions { ChunkSize = 4, Scale = 0.7f };
            var (eo, _) = c.Reference(0.7);
            var (mo, _) = Magnitude(c, 0.7);
            if (f32Out)
            {
                var output = new float[c.OutLength];
                Scan.LinearForward(_ctx, inputs, output, options: o);
                AssertScan(output, eo, mo, c, EngramDType.F32, "o");
            }
            else
            {
                var output = new T[c.OutLength];
                Scan.LinearForward(_ctx, inputs, output.AsSpan(), options: o);
                var widened = new float[output.Length];
                DTypes.ToSingle(MemoryMarshal.AsBytes(output.AsSpan()), dtype, widened);
                AssertScan(widened, eo, mo, c, dtype, "o");
            }
        }
    }

    [Test]
    public void SplitWithStateEqualsOnePass()
    {
        var shape = new ScanShape(1, 10, 2, 4, 3);
        var whole = new ScanCase(shape, ScanGate.Scalar, seed: 3, initialState: false);
        var all = new float[whole.OutLength];
        Scan.LinearForward(_ctx, whole.Inputs(), all, options: new ScanOptions { ChunkSize = 3 });
        // First 6 tokens, then 4 from its final state. Slice [B=1, T, H, *] along T.
        int split = 6, qkRow = 2 * 4, vRow = 2 * 3;
        var first = new ScanShape(1, split, 2, 4, 3);
        var second = new ScanShape(1, 10 - split, 2, 4, 3);
        var state = new float[whole.StateLength];
        var o1 = new float[split * vRow];
        var o2 = new float[(10 - split) * vRow];
        Scan.LinearForward(_ctx, new ScanInputs<float>(first, whole.Q.AsSpan(0, split * qkRow), whole.K.AsSpan(0, split * qkRow),
            whole.V.AsSpan(0, split * vRow), ScanGate.Scalar, whole.G.AsSpan(0, split * 2)), o1, state);
        Scan.LinearForward(_ctx, new ScanInputs<float>(second, whole.Q.AsSpan(split * qkRow), whole.K.AsSpan(split * qkRow),
            whole.V.AsSpan(split * vRow), ScanGate.Scalar, whole.G.AsSpan(split * 2), state), o2);
        var joined = o1.Concat(o2).ToArray();
        TestSupport.AssertClose(joined, all.Select(x => (double)x).ToArray(), atol: 1e-5, rtol: 1e-5, what: "split o");
    }

    [TestCase(ScanGate.None)]
    [TestCase(ScanGate.Scalar)]
    [TestCase(ScanGate.Vector)]
    public void DecodeStepsEqualTheForward(ScanGate gate)
    {
        // T decode steps, each from the previous state (updated in place), equal the T-token forward.
        var shape = new ScanShape(2, 5, 3, 4, 2, 1);
        var c = new ScanCase(shape, gate, seed: 9, initialState: true);
        double scale = ScanOptions.Default.ResolvedScale(shape.KDim);
        var (eo, es) = c.Reference(scale);
        var (mo, ms) = Magnitude(c, scale);
        var step = shape with { T = 1 };
        int qkRow = 1 * 4, vRow = 3 * 2, gRow = gate == ScanGate.Vector ? 3 * 4 : 3;
        var state = c.S0.ToArray();
        var o = new float[c.OutLength];
        for (int t = 0; t < shape.T; t++)
        {
            // Gather token t of both sequences: [B, 1, *].
            float[] Take(float[] src, int row) =>
                Enumerable.Range(0, 2).SelectMany(b => src.AsSpan((b * (int)shape.T + t) * row, row).ToArray()).ToArray();
            var inputs = new ScanInputs<float>(step, Take(c.Q, qkRow), Take(c.K, qkRow), Take(c.V, vRow), gate,
                gate == ScanGate.None ? default : Take(c.G, gRow), state);
            var ot = new float[2 * vRow];
            Scan.LinearDecode(_ctx, inputs, ot, state);
            for (int b = 0; b < 2; b++) ot.AsSpan(b * vRow, vRow).CopyTo(o.AsSpan((b * (int)shape.T + t) * vRow));
        }
        AssertScan(o, eo, mo, c, EngramDType.F32, "decoded o");
        AssertScan(state, es, ms, c, EngramDType.F32, "state");
    }

    [TestCase(ScanGate.None)]
    [TestCase(ScanGate.Scalar)]
    [TestCase(ScanGate.Vector)]
    public void BackwardMatchesFiniteDifferencesOfTheReference(ScanGate gate)
    {
        // L = Σ gradO·o + Σ gradFinal·S_T; the gradient of the float64 reference by central differences.
        var shape = new ScanShape(1, 5, 2, 3, 2, 1);
        var c = new ScanCase(shape, gate, seed: 21, initialState: true);
        var rng = new Random(4);
        var gradO = TestSupport.Uniform(rng, (int)c.OutLength);
        var gradFinal = TestSupport.Uniform(rng, (int)c.StateLength);
        double scale = 0.6;
        var opts = new ScanOptions { ChunkSize = 2, Scale = 0.6f };
        var dq = new float[c.Q.Length];
        var dk = new float[c.K.Length];
        var dv = new float[c.V.Length];
        var dg = new float[c.G.Length];
        var ds = new float[c.S0.Length];
        Scan.LinearBackward(_ctx, c.Inputs(), (ReadOnlySpan<float>)gradO, new ScanGrads<float>(dq, dk, dv, dg, ds),
            gradFinal, opts);

        double Loss()
        {
            var (o, s) = c.Reference(scale);
            double l = 0;
            for (int i = 0; i < o.Length; i++) l += gradO[i] * o[i];
            for (int i = 0; i < s.Length; i++) l += gradFinal[i] * s[i];
            return l;
        }
        void Check(float[] param, float[] grad, string what)
        {
            for (int i = 0; i < param.Length; i++)
            {
                float keep = param[i];
                const float h = 1e-3f;
                param[i] = keep + h;
                double up = Loss();
                param[i] = keep - h;
                double down = Loss();
                param[i] = keep;
                double fd = (up - down) / (2.0 * h);
                // float perturbations: h is exact in float around |x| <= 1 to ~1e-10; the loss is
                // polynomial of degree ≤ 3 in each input (exp in g), so central differences err by O(h²).
                double tol = 2e-3 * (1 + Math.Abs(fd));
                if (!(Math.Abs(grad[i] - fd) <= tol)) Assert.Fail($"{what}[{i}] = {grad[i]}, finite difference {fd} ± {tol:E2}");
            }
        }
        Check(c.Q, dq, "dq");
        Check(c.K, dk, "dk");
        Check(c.V, dv, "dv");
        if (gate != ScanGate.None) Check(c.G, dg, "dg");
        Check(c.S0, ds, "d_initial_state");
    }

    [Test]
    public void BackwardWithSixteenBitGradientsRoundsTheF32Ones()
    {
        var shape = new ScanShape(1, 6, 2, 4, 3);
        var c = new ScanCase(shape, ScanGate.Scalar, seed: 2, initialState: false);
        var (q, k, v) = c.As<BFloat16>();
        var inputs = new ScanInputs<BFloat16>(shape, q, k, v, ScanGate.Scalar, c.G);
        var gradO = new BFloat16[c.OutLength];
        var rng = new Random(1);
        for (int i = 0; i < gradO.Length; i++) gradO[i] = BFloat16.FromSingle((float)(rng.NextDouble() - 0.5));
        var dq32 = new float[q.Length];
        var dq16 = new BFloat16[q.Length];
        Scan.LinearBackward(_ctx, inputs, (ReadOnlySpan<BFloat16>)gradO, new ScanGrads<float>(dq: dq32));
        Scan.LinearBackward(_ctx, inputs, (ReadOnlySpan<BFloat16>)gradO, new ScanGrads<BFloat16>(dq: dq16));
        for (int i = 0; i < dq32.Length; i++)
            Assert.That(dq16[i].ToSingle(), Is.EqualTo(BFloat16.FromSingle(dq32[i]).ToSingle()), $"dq[{i}]");
    }

    [Test]
    public void InvalidOptionsAreRejectedByLibengramNamingTheField()
    {
        var c = new ScanCase(new ScanShape(1, 3, 1, 2, 2), ScanGate.None, 1, false);
        var e = Assert.Throws<EngramArgumentException>(() =>
            Scan.LinearForward(_ctx, c.Inputs(), new float[c.OutLength], options: new ScanOptions { ChunkSize = 257 }))!;
        Assert.That(e.Message, Does.Contain("chunk_size"));
    }

    // --- every managed length check: an ArgumentException naming the span, libengram not called ---

    private static readonly ScanShape S = new(2, 3, 2, 4, 5, 1);
    private const int Qk = 2 * 3 * 1 * 4, Vv = 2 * 3 * 2 * 5, St = 2 * 2 * 4 * 5, Gs = 2 * 3 * 2, Gv = 2 * 3 * 2 * 4;

    private static void ExpectLength(TestDelegate call, string name)
    {
        var e = Assert.Throws<ArgumentException>(call)!;
        Assert.That(e.ParamName, Is.EqualTo(name));
        Assert.That(e, Is.Not.InstanceOf<EngramArgumentException>());
    }

    private void Forward(int q = Qk, int k = Qk, int v = Vv, ScanGate gate = ScanGate.Scalar, int g = Gs, int s0 = 0,
        int o = Vv, int fs = 0) =>
        Scan.LinearForward(_ctx, new ScanInputs<float>(S, new float[q], new float[k], new float[v], gate, new float[g],
            new float[s0]), new float[o], new float[fs]);

    [Test] public void ShortQ() => ExpectLength(() => Forward(q: Qk - 1), "q");
    [Test] public void LongK() => ExpectLength(() => Forward(k: Qk + 1), "k");
    [Test] public void ShortV() => ExpectLength(() => Forward(v: Vv - 1), "v");
    [Test] public void ScalarGateOfVectorLength() => ExpectLength(() => Forward(g: Gv), "g");
    [Test] public void VectorGateOfScalarLength() => ExpectLength(() => Forward(gate: ScanGate.Vector, g: Gs), "g");
    [Test] public void ShortInitialState() => ExpectLength(() => Forward(s0: St - 1), "initialState");
    [Test] public void ShortOutput() => ExpectLength(() => Forward(o: Vv - 1), "output");
    [Test] public void ShortFinalState() => ExpectLength(() => Forward(fs: St - 1), "finalState");

    [Test]
    public void GateNoneWithGIsLibengramsToReject()
    {
        var e = Assert.Throws<EngramArgumentException>(() => Forward(gate: ScanGate.None, g: 3))!;
        Assert.That(e.Message, Does.Contain("g"));
    }

    [Test]
    public void DecodeNeedsStateOut() => ExpectLength(() =>
        Scan.LinearDecode(_ctx, new ScanInputs<float>(S with { T = 1 }, new float[8], new float[8], new float[20]),
            new float[20], new float[St - 1]), "stateOut");

    [Test]
    public void DecodeShortOutput() => ExpectLength(() =>
        Scan.LinearDecode(_ctx, new ScanInputs<float>(S with { T = 1 }, new float[8], new float[8], new float[20]),
            new float[19], new float[St]), "output");

    private void Backward(int go = Vv, int gfs = 0, int dq = 0, int dk = 0, int dv = 0, int dg = 0, int ds = 0) =>
        Scan.LinearBackward(_ctx, new ScanInputs<float>(S, new float[Qk], new float[Qk], new float[Vv], ScanGate.Scalar,
                new float[Gs]), (ReadOnlySpan<float>)new float[go],
            new ScanGrads<float>(new float[dq], new float[dk], new float[dv], new float[dg], new float[ds]), new float[gfs]);

    [Test] public void ShortGradO() => ExpectLength(() => Backward(go: Vv - 1, dq: Qk), "gradO");
    [Test] public void ShortGradFinalState() => ExpectLength(() => Backward(gfs: St - 1, dq: Qk), "gradFinalState");
    [Test] public void ShortDq() => ExpectLength(() => Backward(dq: Qk - 1), "grads.Dq");
    [Test] public void ShortDk() => ExpectLength(() => Backward(dk: Qk - 1), "grads.Dk");
    [Test] public void ShortDv() => ExpectLength(() => Backward(dv: Vv - 1), "grads.Dv");
    [Test] public void ShortDg() => ExpectLength(() => Backward(dg: Gs - 1), "grads.Dg");
    [Test] public void ShortDInitialState() => ExpectLength(() => Backward(ds: St - 1), "grads.DInitialState");

    [Test]
    public void UnsupportedElementTypeIsRejected() =>
        ExpectLength(() => Scan.LinearForward(_ctx, new ScanInputs<double>(S, new double[Qk], new double[Qk], new double[Vv]),
            new float[Vv]), "Q");

    [Test]
    public void InvalidShapeSkipsTheLengthChecksAndLibengramRejectsIt()
    {
        var e = Assert.Throws<EngramArgumentException>(() =>
            Scan.LinearForward(_ctx, new ScanInputs<float>(new ScanShape(1, 0, 1, 2, 2), [], [], []), new float[0]))!;
        Assert.That(e.Message, Does.Contain("t"));
    }
}
