using Engram.Ops;
using Engram.Reference;

namespace Engram.Tests;

/// <summary>The typed CCE API on libengram's CPU backend against the float64 reference.</summary>
public sealed class CceTests
{
    private EngramContext _ctx = null!;

    [OneTimeSetUp]
    public void Open() => _ctx = EngramContext.Create(EngramBackend.NativeCpu);

    [OneTimeTearDown]
    public void Close() => _ctx.Dispose();

    // 64 random cases: every kind, f32/f16/bf16, i32/i64, float or input-typed gradients, every
    // reduction and option, the awkward shapes of CceCaseGenerator.
    private static IEnumerable<TestCaseData> RandomCases() =>
        CceCaseGenerator.Random(seed: 2024, count: 64, CceCaseLimits.Normal)
            .Select((c, i) => new TestCaseData(c).SetArgDisplayNames($"{i:00} {c.Describe()}"));

    [TestCaseSource(nameof(RandomCases))]
    public void MatchesTheReference(CceCase c)
    {
        var r = CceVerifier.Run(_ctx, c);
        Assert.That(r.Error, Is.Null);
        Assert.That(r.Passed, Is.True, $"max abs err {r.MaxAbsError:E3} > tolerance {r.Tolerance:E3} at {r.Worst}");
    }

    [Test]
    public void HandComputedLoss()
    {
        // z = [1, 0], target 0: loss = log(e + 1) - 1.
        var loss = new float[1];
        var lse = new float[1];
        Cce.Forward(_ctx, new CceInputs<float, int>(new CceShape(1, 1, 2), [1f], [1f, 0f], [0]), loss, lse);
        Assert.That(loss[0], Is.EqualTo(Math.Log(Math.E + 1) - 1).Within(1e-6));
        Assert.That(lse[0], Is.EqualTo(Math.Log(Math.E + 1)).Within(1e-6));
    }

    [Test]
    public void HandComputedGradient()
    {
        // z = [1, 0], target 0: dz = softmax - onehot = [p - 1, 1 - p] with p = e/(e+1); dE = dz . c = p - 1.
        var de = new float[1];
        var dc = new float[2];
        Cce.Backward(_ctx, new CceInputs<float, int>(new CceShape(1, 1, 2), [1f], [1f, 0f], [0]), new CceGrads<float>(de, dc));
        double p = Math.E / (Math.E + 1);
        Assert.That(de[0], Is.EqualTo(p - 1).Within(1e-6));
        Assert.That(dc[0], Is.EqualTo(p - 1).Within(1e-6));
        Assert.That(dc[1], Is.EqualTo(1 - p).Within(1e-6));
    }

    [TestCase(CceReduction.None)]
    [TestCase(CceReduction.Sum)]
    [TestCase(CceReduction.Mean)]
    public void ReductionsAgreeWithTheReference(CceReduction reduction)
    {
        var p = new TestSupport.Problem(13, 7, 29);
        var o = new CceOptions { Reduction = reduction };
        var loss = new float[o.LossLength(p.N)];
        Cce.Forward(_ctx, p.Inputs, loss, options: o);
        TestSupport.AssertClose(loss, CceReference.Forward(p.Reference, o).Loss, what: "loss");
    }

    [Test]
    public void IgnoredTokensGetZeroLossLseAndGradient()
    {
        var p = new TestSupport.Problem(9, 6, 17, ignoreEvery: 3); // tokens 2, 5, 8 ignored
        var o = new CceOptions { Reduction = CceReduction.None };
        var loss = new float[p.N];
        var lse = new float[p.N];
        var de = new float[p.N * p.D];
        Cce.ForwardBackward(_ctx, p.Inputs, new CceGrads<float>(de), loss, lse, options: o);
        foreach (int i in new[] { 2, 5, 8 })
        {
            Assert.That(loss[i], Is.Zero);
            Assert.That(lse[i], Is.Zero);
            Assert.That(de.AsSpan(i * p.D, p.D).ToArray(), Is.All.Zero);
        }
        Assert.That(loss[0], Is.GreaterThan(0));
        Assert.That(_ctx.LastOpStats.TokensValid, Is.EqualTo(6));
    }

    [Test]
    public void MeanOverAllIgnoredTokensIsZero()
    {
        var p = new TestSupport.Problem(3, 4, 5) { Targets = [-100, -100, -100] };
        var loss = new float[] { float.NaN };
        Cce.Forward(_ctx, p.Inputs, loss);
        Assert.That(loss[0], Is.Zero);
    }

    [Test]
    public void CustomIgnoreIndexIsHonoured()
    {
        var p = new TestSupport.Problem(4, 3, 8, ignoreEvery: 0) { Targets = [1, 7, 7, 2] };
        var o = new CceOptions { IgnoreIndex = 7, Reduction = CceReduction.None };
        var loss = new float[4];
        Cce.Forward(_ctx, p.Inputs, loss, options: o);
        Assert.That(loss[1], Is.Zero);
        Assert.That(loss[2], Is.Zero);
        TestSupport.AssertClose(loss, CceReference.Forward(p.Reference, o).Loss, what: "loss");
    }

    [Test]
    public void BackwardRecomputesLseWhenNotGiven()
    {
        var p = new TestSupport.Problem(11, 9, 41);
        var lse = new float[p.N];
        Cce.Forward(_ctx, p.Inputs, new float[1], lse);
        var withLse = new float[p.N * p.D];
        var without = new float[p.N * p.D];
        Cce.Backward(_ctx, p.Inputs, new CceGrads<float>(withLse), lse);
        Cce.Backward(_ctx, p.Inputs, new CceGrads<float>(without));
        TestSupport.AssertClose(without, withLse.Select(x => (double)x).ToArray(), 1e-6, 1e-5, "grad_e");
    }

    [Test]
    public void ForwardBackwardEqualsForwardThenBackward()
    {
        var p = new TestSupport.Problem(10, 8, 33);
        var o = new CceOptions { Softcap = 4, LabelSmoothing = 0.1f, ZLoss = 1e-3f };
        var loss1 = new float[1];
        var lse1 = new float[p.N];
        var g1 = new float[p.V * p.D];
        Cce.ForwardBackward(_ctx, p.Inputs, new CceGrads<float>(c: g1), loss1, lse1, options: o);
        var loss2 = new float[1];
        var lse2 = new float[p.N];
        var g2 = new float[p.V * p.D];
        Cce.Forward(_ctx, p.Inputs, loss2, lse2, o);
        Cce.Backward(_ctx, p.Inputs, new CceGrads<float>(c: g2), lse2, options: o);
        Assert.That(loss1[0], Is.EqualTo(loss2[0]).Within(1e-5));
        TestSupport.AssertClose(g1, g2.Select(x => (double)x).ToArray(), 1e-6, 1e-5, "grad_c");
    }

    [Test]
    public void UpstreamGradientScalesTheGradient()
    {
        var p = new TestSupport.Problem(6, 5, 13);
        var o = new CceOptions { Reduction = CceReduction.Sum };
        var once = new float[p.N * p.D];
        var thrice = new float[p.N * p.D];
        Cce.Backward(_ctx, p.Inputs, new CceGrads<float>(once), options: o);
        Cce.Backward(_ctx, p.Inputs, new CceGrads<float>(thrice), gradLoss: [3f], options: o);
        TestSupport.AssertClose(thrice, once.Select(x => 3.0 * x).ToArray(), 1e-6, 1e-5, "grad_e");
    }

    [Test]
    public void Int32AndInt64TargetsGiveTheSameLoss()
    {
        var p = new TestSupport.Problem(7, 4, 19);
        var l64 = new float[1];
        var l32 = new float[1];
        Cce.Forward(_ctx, p.Inputs, l64);
        int[] t32 = p.Targets.Select(t => (int)t).ToArray();
        Cce.Forward(_ctx, new CceInputs<float, int>(p.Shape, p.E, p.C, t32, p.Bias), l32);
        Assert.That(l32[0], Is.EqualTo(l64[0]));
    }

    [Test]
    public void HalfAndBFloat16InputsWithGradientsInTheirOwnType()
    {
        var p = new TestSupport.Problem(8, 12, 37);
        var r = CceReference.Backward(HalfReference(p, out var e, out var c), CceOptions.Default, default);
        var gh = new Half[p.N * p.D];
        Cce.Backward(_ctx, new CceInputs<Half, long>(p.Shape, e, c, p.Targets), new CceGrads<Half>(gh),
            options: new CceOptions { FilterEps = 0 });
        TestSupport.AssertClose(gh.Select(x => (float)x).ToArray(), r.E, 1e-4, 1.0 / 1024, "f16 grad_e");

        var eb = p.E.Select(BFloat16.FromSingle).ToArray();
        var cb = p.C.Select(BFloat16.FromSingle).ToArray();
        var rb = CceReference.Backward(new CceReferenceProblem(p.N, p.D, p.V, eb.Select(x => (double)x).ToArray(),
            cb.Select(x => (double)x).ToArray(), null, p.Targets), CceOptions.Default, default);
        var gb = new BFloat16[p.N * p.D];
        Cce.Backward(_ctx, new CceInputs<BFloat16, long>(p.Shape, eb, cb, p.Targets), new CceGrads<BFloat16>(gb),
            options: new CceOptions { FilterEps = 0 });
        TestSupport.AssertClose(gb.Select(x => x.ToSingle()).ToArray(), rb.E, 1e-4, 1.0 / 128, "bf16 grad_e");
    }

    [Test]
    public void GradientFilterSkipsBlocksAndReportsIt()
    {
        var p = new TestSupport.Problem(16, 8, 300);
        var exact = new float[p.N * p.D];
        Cce.Backward(_ctx, p.Inputs, new CceGrads<float>(exact), options: new CceOptions { FilterEps = 0 });
        var stats = _ctx.LastOpStats;
        Assert.That(stats.BlocksTotal, Is.GreaterThan(0));
        Assert.That(stats.BlocksSkipped, Is.Zero, "eps 0 is exact");
        var filtered = new float[p.N * p.D];
        Cce.Backward(_ctx, p.Inputs, new CceGrads<float>(filtered), options: new CceOptions { FilterEps = 0.5f });
        Assert.That(_ctx.LastOpStats.BlocksSkipped, Is.GreaterThan(0), "a huge threshold skips blocks");
    }

    [Test]
    public void ForwardDoesNotMaterialiseTheLogits()
    {
        var p = new TestSupport.Problem(256, 16, 4096, ignoreEvery: 0);
        _ctx.ResetPeakMemory();
        Cce.Forward(_ctx, p.Inputs, new float[1]);
        ulong logits = (ulong)p.N * (ulong)p.V * sizeof(float);
        Assert.That(_ctx.MemoryStats.PeakBytes, Is.LessThan(logits / 4), $"peak scratch vs {logits} bytes of logits");
    }

    [Test]
    public void ShardedLossEqualsTheWholeVocabulary()
    {
        var p = new TestSupport.Problem(9, 6, 23);
        var o = new CceOptions { LabelSmoothing = 0.1f, Reduction = CceReduction.None };
        int[] bounds = [0, 5, 14, 23];
        var shardLse = new float[3 * p.N];
        var target = new float[p.N];
        var sum = new float[p.N];
        for (int s = 0; s < 3; s++)
        {
            int start = bounds[s], count = bounds[s + 1] - start;
            var t = new float[p.N];
            var z = new float[p.N];
            var inputs = new CceInputs<float, long>(CceShape.Shard(p.N, p.D, start, count, p.V), p.E,
                p.C.AsSpan(start * p.D, count * p.D), p.Targets, p.Bias.AsSpan(start, count));
            Cce.ShardForward(_ctx, inputs, shardLse.AsSpan(s * p.N, p.N), t, z, o);
            for (int i = 0; i < p.N; i++)
            {
                target[i] += t[i];
                sum[i] += z[i];
            }
        }
        var loss = new float[p.N];
        var lse = new float[p.N];
        Cce.ShardCombine<long>(_ctx, 3, p.V, shardLse, target, sum, p.Targets, loss, lse, o);
        var r = CceReference.Forward(p.Reference, o);
        TestSupport.AssertClose(loss, r.Loss, what: "loss");
        TestSupport.AssertClose(lse, r.Lse, what: "lse");
    }

    private static CceReferenceProblem HalfReference(TestSupport.Problem p, out Half[] e, out Half[] c)
    {
        e = p.E.Select(x => (Half)x).ToArray();
        c = p.C.Select(x => (Half)x).ToArray();
        return new CceReferenceProblem(p.N, p.D, p.V, e.Select(x => (double)x).ToArray(), c.Select(x => (double)x).ToArray(),
            null, p.Targets);
    }
}
