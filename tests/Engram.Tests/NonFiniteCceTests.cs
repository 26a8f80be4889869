using Engram.Ops;
using Engram.Reference;

namespace Engram.Tests;

/// <summary>
/// Non-finite inputs (NaN, ±inf) follow PyTorch on every host backend: torch.logsumexp for the lse
/// (a NaN anywhere → NaN, a +inf → +inf, only −inf → −inf) and plain IEEE autograd arithmetic for the
/// gradients. Each output entry's class (NaN / +inf / −inf / finite) must equal the float64 reference's
/// exactly, and finite entries must agree within a small tolerance. Run on the ILGPU fallback kernels
/// (ILGPU's CPU accelerator: tiny shapes) and on libengram's CPU backend; on the GPU backends too where
/// this machine has them (skipped otherwise).
/// </summary>
[TestFixture(EngramBackend.IlgpuCpu)]
[TestFixture(EngramBackend.NativeCpu)]
[TestFixture(EngramBackend.IlgpuGpu)]
[TestFixture(EngramBackend.NativeCuda)]
public sealed class NonFiniteCceTests
{
    private const float Eps12 = 2.44140625e-4f; // 2^-12, the bf16 filter threshold
    private readonly EngramBackend _backend;
    private EngramContext _ctx = null!;

    public NonFiniteCceTests(EngramBackend backend) => _backend = backend;

    private enum Kind
    {
        Finite,
        NaN,
        PosInf,
        NegInf,
    }

    [OneTimeSetUp]
    public void Open()
    {
        if (_backend is EngramBackend.IlgpuGpu or EngramBackend.NativeCuda) TestSupport.RequireBackend(_backend);
        _ctx = EngramContext.Create(_backend);
    }

    [OneTimeTearDown]
    public void Close() => _ctx?.Dispose();

    [TestCase(0f)]
    [TestCase(30f)]
    public void NaNClassifierEntryGivesNaN(float softcap)
    {
        // n = 1, d = 1, v = 3: logits {NaN, 0.5, -0.5} (softcapped: {NaN, ...}).
        var p = Tiny(e: 1f, c: [float.NaN, 0.5f, -0.5f]);
        var o = new CceOptions { Reduction = CceReduction.None, Softcap = softcap };
        var r = RunAndCompare(p, o);
        AssertKinds(r.Loss, Kind.NaN, "loss");
        AssertKinds(r.Lse, Kind.NaN, "lse");
        AssertKinds(r.E, Kind.NaN, "grad_e");
        AssertKinds(r.C, Kind.NaN, "grad_c");
    }

    [TestCase(0f)]
    [TestCase(30f)]
    public void InfiniteHiddenStateTimesZeroGivesNaN(float softcap)
    {
        // inf · 0 = NaN: logits {NaN, +inf, -inf}, softcapped {NaN, 30, -30}.
        var p = Tiny(e: float.PositiveInfinity, c: [0f, 0.5f, -0.5f]);
        var o = new CceOptions { Reduction = CceReduction.None, Softcap = softcap };
        var r = RunAndCompare(p, o);
        AssertKinds(r.Loss, Kind.NaN, "loss");
        AssertKinds(r.Lse, Kind.NaN, "lse");
        AssertKinds(r.E, Kind.NaN, "grad_e");
        AssertKinds(r.C, Kind.NaN, "grad_c");
    }

    [TestCase(0f)]
    [TestCase(Eps12)]
    public void NaNInAClassifierRowPoisonsEveryToken(float filterEps)
    {
        var p = new TestSupport.Problem(4, 3, 7, seed: 5, ignoreEvery: 0);
        p.C[2 * p.D + 1] = float.NaN;
        var o = new CceOptions { Reduction = CceReduction.None, FilterEps = filterEps };
        var r = RunAndCompare(p, o);
        AssertKinds(r.Loss, Kind.NaN, "loss");
        AssertKinds(r.Lse, Kind.NaN, "lse");
        AssertKinds(r.E, Kind.NaN, "grad_e");
        AssertKinds(r.C, Kind.NaN, "grad_c");
        AssertKinds(r.Bias, Kind.NaN, "grad_bias");
    }

    [TestCase(0f, CceReduction.None)]
    [TestCase(Eps12, CceReduction.None)]
    [TestCase(0f, CceReduction.Sum)]
    public void NaNInOneHiddenStatePoisonsOnlyThatToken(float filterEps, CceReduction reduction)
    {
        const int bad = 2;
        var p = new TestSupport.Problem(5, 3, 7, seed: 6, ignoreEvery: 0);
        p.E[bad * p.D] = float.NaN;
        var o = new CceOptions { Reduction = reduction, FilterEps = filterEps };
        var r = RunAndCompare(p, o);
        if (reduction == CceReduction.None)
            AssertKinds(r.Loss, i => i == bad ? Kind.NaN : Kind.Finite, "loss");
        else
            AssertKinds(r.Loss, Kind.NaN, "loss");
        AssertKinds(r.Lse, i => i == bad ? Kind.NaN : Kind.Finite, "lse");
        AssertKinds(r.E, k => k / p.D == bad ? Kind.NaN : Kind.Finite, "grad_e");
        // Every classifier row sees the NaN token: dC[j, k] += g[bad, j] · e[bad, k] with g NaN.
        AssertKinds(r.C, Kind.NaN, "grad_c");
        AssertKinds(r.Bias, Kind.NaN, "grad_bias");
    }

    [Test]
    public void NaNInAnIgnoredTokenChangesNothing()
    {
        const int ignored = 2;
        var p = new TestSupport.Problem(5, 3, 7, seed: 6, ignoreEvery: 0);
        p.Targets[ignored] = -100;
        p.E[ignored * p.D + 1] = float.NaN;
        var o = new CceOptions { Reduction = CceReduction.None };
        var r = RunAndCompare(p, o);
        AssertKinds(r.Loss, Kind.Finite, "loss");
        AssertKinds(r.E, Kind.Finite, "grad_e");
        AssertKinds(r.C, Kind.Finite, "grad_c");
        AssertKinds(r.Bias, Kind.Finite, "grad_bias");
        Assert.That(r.Loss[ignored], Is.Zero);
        Assert.That(r.Lse[ignored], Is.Zero);
        Assert.That(r.E.AsSpan(ignored * p.D, p.D).ToArray(), Is.All.Zero);
    }

    [TestCase(0f)]
    [TestCase(Eps12)]
    public void PositiveInfiniteBiasGivesInfiniteLseAndLoss(float filterEps)
    {
        const int col = 4, hit = 1;
        var p = new TestSupport.Problem(5, 3, 7, seed: 8, ignoreEvery: 0);
        p.Targets = [0, col, 2, 6, 3];
        p.Bias[col] = float.PositiveInfinity;
        var o = new CceOptions { Reduction = CceReduction.None, FilterEps = filterEps };
        var r = RunAndCompare(p, o);
        AssertKinds(r.Lse, Kind.PosInf, "lse");
        AssertKinds(r.Loss, i => i == hit ? Kind.NaN : Kind.PosInf, "loss"); // inf - inf for the hit token
        // dloss/dz = exp(z - lse) - [j = t]: 0 or -1 for finite z, exp(inf - inf) = NaN in the inf column.
        AssertKinds(r.E, Kind.NaN, "grad_e");
        AssertKinds(r.C, k => k / p.D == col ? Kind.NaN : Kind.Finite, "grad_c");
        AssertKinds(r.Bias, j => j == col ? Kind.NaN : Kind.Finite, "grad_bias");
    }

    [TestCase(0.1f, 0f)]
    [TestCase(0f, 1e-3f)]
    [TestCase(0.1f, 1e-3f)]
    public void PositiveInfiniteBiasWithSmoothingOrZLoss(float smoothing, float zLoss)
    {
        // Smoothing: lse - s·Σz/V = inf - inf = NaN. z-loss: inf + z·inf² = inf, and every gradient is
        // exp(z - inf)·(1 + 2·z_loss·inf) = 0·inf = NaN. The reference decides each entry.
        var p = new TestSupport.Problem(5, 3, 7, seed: 8, ignoreEvery: 0);
        p.Targets = [0, 4, 2, 6, 3];
        p.Bias[4] = float.PositiveInfinity;
        var o = new CceOptions { Reduction = CceReduction.None, LabelSmoothing = smoothing, ZLoss = zLoss };
        var r = RunAndCompare(p, o);
        AssertKinds(r.Lse, Kind.PosInf, "lse");
        if (smoothing > 0) AssertKinds(r.Loss, Kind.NaN, "loss");
        if (zLoss > 0) AssertKinds(r.C, Kind.NaN, "grad_c");
    }

    [TestCase(0f, 0f, 0f)]
    [TestCase(30f, 0f, 0f)]
    [TestCase(0f, 0f, 1e-3f)]
    [TestCase(4f, 0f, 1e-3f)]
    public void NegativeInfiniteBiasEntriesGiveFiniteResults(float softcap, float smoothing, float zLoss)
    {
        var p = new TestSupport.Problem(5, 3, 7, seed: 10, ignoreEvery: 0);
        p.Targets = [0, 2, 3, 6, 4];
        p.Bias[1] = float.NegativeInfinity;
        p.Bias[5] = float.NegativeInfinity;
        var o = new CceOptions { Reduction = CceReduction.None, Softcap = softcap, LabelSmoothing = smoothing, ZLoss = zLoss };
        var r = RunAndCompare(p, o);
        AssertKinds(r.Loss, Kind.Finite, "loss");
        AssertKinds(r.Lse, Kind.Finite, "lse");
        AssertKinds(r.E, Kind.Finite, "grad_e");
        AssertKinds(r.C, Kind.Finite, "grad_c");
        AssertKinds(r.Bias, Kind.Finite, "grad_bias");
    }

    [Test]
    public void NegativeInfiniteBiasWithSmoothingOrAsTargetGivesInfiniteLoss()
    {
        // -(1 - s)·(-inf) and -s·(-inf)/V are +inf; the lse and the gradients stay finite.
        var p = new TestSupport.Problem(4, 3, 7, seed: 10, ignoreEvery: 0);
        p.Targets = [0, 1, 3, 6];
        p.Bias[1] = float.NegativeInfinity;
        var plain = RunAndCompare(p, new CceOptions { Reduction = CceReduction.None });
        AssertKinds(plain.Loss, i => i == 1 ? Kind.PosInf : Kind.Finite, "loss");
        AssertKinds(plain.Lse, Kind.Finite, "lse");
        AssertKinds(plain.E, Kind.Finite, "grad_e");
        var smoothed = RunAndCompare(p, new CceOptions { Reduction = CceReduction.None, LabelSmoothing = 0.1f });
        AssertKinds(smoothed.Loss, Kind.PosInf, "loss");
        AssertKinds(smoothed.E, Kind.Finite, "grad_e");
    }

    [TestCase(0f)]
    [TestCase(Eps12)]
    public void AllNegativeInfiniteBiasGivesNegativeInfiniteLse(float filterEps)
    {
        var p = new TestSupport.Problem(4, 3, 6, seed: 12, ignoreEvery: 0);
        Array.Fill(p.Bias, float.NegativeInfinity);
        var o = new CceOptions { Reduction = CceReduction.None, FilterEps = filterEps };
        var r = RunAndCompare(p, o);
        AssertKinds(r.Lse, Kind.NegInf, "lse");
        AssertKinds(r.Loss, Kind.NaN, "loss"); // -inf - (-inf)
        AssertKinds(r.E, Kind.NaN, "grad_e"); // exp(-inf - (-inf))
        AssertKinds(r.Bias, Kind.NaN, "grad_bias");
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    public void NonFiniteUpstreamGradientIsNeverFilteredAway(float upstream)
    {
        // A filter threshold above every |dloss/dz| would drop everything, but a token whose upstream
        // gradient is NaN or inf must reach the output as IEEE arithmetic has it.
        const int bad = 1;
        var p = new TestSupport.Problem(4, 3, 7, seed: 14, ignoreEvery: 0);
        var o = new CceOptions { Reduction = CceReduction.None, FilterEps = 4 };
        float[] gradLoss = [1, upstream, 1, 1];
        var r = Run(p, o, gradLoss);
        var g = CceReference.Backward(p.Reference, o, gradLoss);
        for (int k = 0; k < p.D; k++)
            AssertEntry(r.E[bad * p.D + k], g.E[bad * p.D + k], 1, $"grad_e[{bad * p.D + k}]");
        AssertKinds(r.E, k => k / p.D == bad ? Classify(g.E[k]) : Kind.Finite, "grad_e");
        AssertKinds(r.C, k => Classify(g.C[k]), "grad_c");
        AssertKinds(r.Bias, j => Classify(g.Bias[j]), "grad_bias");
        Assert.That(r.E.AsSpan(bad * p.D, p.D).ToArray().All(float.IsFinite), Is.False);
    }

    [Test]
    public void ShardCombineFollowsLogSumExpOfTheShards()
    {
        // Per token, the two shards' lse values and the expected global lse class.
        float[][] pairs =
        [
            [float.NaN, 1f],
            [float.PositiveInfinity, 1f],
            [float.NegativeInfinity, 1.5f],
            [float.NegativeInfinity, float.NegativeInfinity],
            [float.PositiveInfinity, float.NaN],
            [float.PositiveInfinity, float.PositiveInfinity],
            [0.5f, -2f],
            [1f, float.NegativeInfinity],
        ];
        Kind[] expected = [Kind.NaN, Kind.PosInf, Kind.Finite, Kind.NegInf, Kind.NaN, Kind.PosInf, Kind.Finite, Kind.Finite];
        int n = pairs.Length;
        var shardLse = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            shardLse[i] = pairs[i][0];
            shardLse[n + i] = pairs[i][1];
        }
        var targetLogit = Enumerable.Repeat(0.25f, n).ToArray();
        var logitSum = Enumerable.Repeat(-0.75f, n).ToArray();
        long[] targets = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        foreach (var o in new[]
                 {
                     new CceOptions { Reduction = CceReduction.None },
                     new CceOptions { Reduction = CceReduction.None, LabelSmoothing = 0.1f, ZLoss = 0.01f },
                 })
        {
            var loss = new float[n];
            var lse = new float[n];
            Cce.ShardCombine(_ctx, 2, 16, shardLse, targetLogit, o.LabelSmoothing > 0 ? logitSum : default,
                targets, loss, lse, o);
            var refLse = pairs.Select(x => CceReference.LogSumExp([x[0], x[1]])).ToArray();
            var refLoss = refLse.Select((l, i) => CceReference.TokenLoss(l, targetLogit[i], logitSum[i], 16, o)).ToArray();
            AssertKinds(lse, i => expected[i], "lse");
            AssertMatches(lse, refLse, "lse");
            AssertMatches(loss, refLoss, "loss");
        }
    }

    [TestCase(float.NegativeInfinity)]
    [TestCase(float.PositiveInfinity)]
    public void ShardedPipelineMatchesTheReference(float shardBias)
    {
        // Shard 1 = columns [4, 8). -inf: its whole bias is -inf, so its lse is -inf and adds nothing.
        // +inf: one +inf column, so every global lse is +inf.
        const int n = 4, d = 3, v = 8, split = 4;
        var p = new TestSupport.Problem(n, d, v, seed: 16, ignoreEvery: 0);
        p.Targets = [0, 3, 1, 2];
        if (float.IsNegativeInfinity(shardBias)) Array.Fill(p.Bias, shardBias, split, v - split);
        else p.Bias[6] = shardBias;
        var o = new CceOptions { Reduction = CceReduction.None };
        int[] bounds = [0, split, v];
        var shardLse = new float[2 * n];
        var targetLogit = new float[n];
        var partialT = new float[n];
        for (int s = 0; s < 2; s++)
        {
            int start = bounds[s], count = bounds[s + 1] - start;
            Cce.ShardForward(_ctx, ShardInputs(p, start, count), shardLse.AsSpan(s * n, n), partialT, options: o);
            for (int i = 0; i < n; i++) targetLogit[i] += partialT[i];
            var rs = CceReference.Shard(p.Reference, o, start, count);
            AssertMatches(shardLse.AsSpan(s * n, n), rs.Lse, $"shard{s}.lse");
        }
        var loss = new float[n];
        var lse = new float[n];
        Cce.ShardCombine(_ctx, 2, v, shardLse, targetLogit, default, p.Targets, loss, lse, o);
        var r = CceReference.Forward(p.Reference, o);
        AssertMatches(lse, r.Lse, "lse");
        AssertMatches(loss, r.Loss, "loss");
        AssertKinds(lse, float.IsNegativeInfinity(shardBias) ? Kind.Finite : Kind.PosInf, "lse");

        var de = new double[n * d];
        var dc = new float[v * d];
        var db = new float[v];
        for (int s = 0; s < 2; s++)
        {
            int start = bounds[s], count = bounds[s + 1] - start;
            var pe = new float[n * d];
            Cce.Backward(_ctx, ShardInputs(p, start, count),
                new CceGrads<float>(pe, dc.AsSpan(start * d, count * d), db.AsSpan(start, count)), lse, options: o);
            for (int k = 0; k < de.Length; k++) de[k] += pe[k];
        }
        var g = CceReference.Backward(p.Reference, o, default);
        AssertMatches(de.Select(x => (float)x).ToArray(), g.E, "grad_e");
        AssertMatches(dc, g.C, "grad_c");
        AssertMatches(db, g.Bias, "grad_bias");
    }

    [Test]
    public void ForwardAndBackwardAloneAgreeWithForwardBackward()
    {
        // The lse recomputed by a Backward without lse, and the Forward's, carry the same classes.
        var p = new TestSupport.Problem(4, 3, 7, seed: 18, ignoreEvery: 0);
        p.Bias[3] = float.PositiveInfinity;
        p.E[2 * p.D] = float.NaN;
        var o = new CceOptions { Reduction = CceReduction.None };
        var r = RunAndCompare(p, o);
        var loss = new float[p.N];
        var lse = new float[p.N];
        Cce.Forward(_ctx, p.Inputs, loss, lse, o);
        AssertIdenticalKinds(loss, r.Loss, "forward loss");
        AssertIdenticalKinds(lse, r.Lse, "forward lse");
        var de = new float[p.N * p.D];
        var dc = new float[p.V * p.D];
        Cce.Backward(_ctx, p.Inputs, new CceGrads<float>(de, dc), options: o);
        AssertIdenticalKinds(de, r.E, "backward grad_e");
        AssertIdenticalKinds(dc, r.C, "backward grad_c");
    }

    // ---- helpers ----

    private sealed record Outputs(float[] Loss, float[] Lse, float[] E, float[] C, float[] Bias);

    private static TestSupport.Problem Tiny(float e, float[] c)
    {
        var p = new TestSupport.Problem(1, 1, c.Length, bias: false, ignoreEvery: 0) { Targets = [1] };
        p.E[0] = e;
        c.CopyTo(p.C, 0);
        return p;
    }

    private static CceInputs<float, long> ShardInputs(TestSupport.Problem p, int start, int count) =>
        new(CceShape.Shard(p.N, p.D, start, count, p.V), p.E, p.C.AsSpan(start * p.D, count * p.D), p.Targets,
            p.Bias.AsSpan(start, count));

    private Outputs Run(TestSupport.Problem p, CceOptions o, float[]? gradLoss = null)
    {
        var loss = new float[o.LossLength(p.N)];
        var lse = new float[p.N];
        var de = new float[p.N * p.D];
        var dc = new float[p.V * p.D];
        var db = p.Bias.Length == 0 ? [] : new float[p.V];
        Cce.ForwardBackward(_ctx, p.Inputs, new CceGrads<float>(de, dc, db), loss, lse, gradLoss ?? default, o);
        return new Outputs(loss, lse, de, dc, db);
    }

    // ForwardBackward, then every output against the reference: same class everywhere, finite values close.
    private Outputs RunAndCompare(TestSupport.Problem p, CceOptions o)
    {
        var r = Run(p, o);
        var f = CceReference.Forward(p.Reference, o);
        var g = CceReference.Backward(p.Reference, o, default);
        AssertMatches(r.Loss, f.Loss, "loss");
        AssertMatches(r.Lse, f.Lse, "lse");
        // The filter may drop entries below eps: widen the tolerance by its bound (as CceVerifier does).
        double eps = o.ResolvedFilterEps(EngramDType.F32);
        double maxC = p.C.Where(float.IsFinite).Select(x => Math.Abs((double)x)).DefaultIfEmpty(0).Max();
        double maxE = p.E.Where(float.IsFinite).Select(x => Math.Abs((double)x)).DefaultIfEmpty(0).Max();
        AssertMatches(r.E, g.E, "grad_e", eps * p.V * maxC);
        AssertMatches(r.C, g.C, "grad_c", eps * p.N * maxE);
        if (p.Bias.Length > 0) AssertMatches(r.Bias, g.Bias, "grad_bias", eps * p.N);
        return r;
    }

    private static Kind Classify(double x) =>
        double.IsNaN(x) ? Kind.NaN : double.IsPositiveInfinity(x) ? Kind.PosInf : double.IsNegativeInfinity(x) ? Kind.NegInf : Kind.Finite;

    private static void AssertKinds(ReadOnlySpan<float> actual, Kind expected, string what) =>
        AssertKinds(actual, _ => expected, what);

    private static void AssertKinds(ReadOnlySpan<float> actual, Func<int, Kind> expected, string what)
    {
        for (int i = 0; i < actual.Length; i++)
            if (Classify(actual[i]) != expected(i))
                Assert.Fail($"{what}[{i}] = {actual[i]} ({Classify(actual[i])}), expected {expected(i)}");
    }

    private static void AssertIdenticalKinds(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
            if (Classify(actual[i]) != Classify(expected[i]))
                Assert.Fail($"{what}[{i}] = {actual[i]}, the fused call gave {expected[i]}");
    }

    // Same class as the reference everywhere; finite entries within 1e-4 · max(1, max finite |ref|)
    // + 1e-4 · |ref| + slack.
    private static void AssertMatches(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, string what,
        double slack = 0)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        double scale = 1;
        foreach (double x in expected)
            if (double.IsFinite(x)) scale = Math.Max(scale, Math.Abs(x));
        for (int i = 0; i < actual.Length; i++) AssertEntry(actual[i], expected[i], scale, $"{what}[{i}]", slack);
    }

    private static void AssertEntry(float actual, double expected, double scale, string what, double slack = 0)
    {
        Kind ka = Classify(actual), ke = Classify(expected);
        if (ka != ke) Assert.Fail($"{what} = {actual} ({ka}), reference {expected} ({ke})");
        if (ka != Kind.Finite) return;
        double tol = 1e-4 * scale + 1e-4 * Math.Abs(expected) + slack;
        if (!(Math.Abs(actual - expected) <= tol)) Assert.Fail($"{what} = {actual}, reference {expected} ± {tol}");
    }
}
