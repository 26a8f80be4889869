using Engram.Ops;
using Engram.Reference;

namespace Engram.Tests;

/// <summary>The float64 reference itself: its gradients are the derivative of its loss.</summary>
public sealed class ReferenceTests
{
    private static IEnumerable<CceOptions> Options() =>
    [
        new CceOptions { Reduction = CceReduction.Sum },
        new CceOptions { Reduction = CceReduction.Mean, Softcap = 3 },
        new CceOptions { Reduction = CceReduction.Sum, LabelSmoothing = 0.2f, ZLoss = 0.01f },
        new CceOptions { Reduction = CceReduction.Mean, Softcap = 2, LabelSmoothing = 0.1f, ZLoss = 0.05f },
    ];

    [TestCaseSource(nameof(Options))]
    public void GradientsMatchFiniteDifferences(CceOptions o)
    {
        var p = new TestSupport.Problem(5, 3, 7, seed: 9).Reference;
        var g = CceReference.Backward(p, o, default);
        const double h = 1e-6;
        for (int k = 0; k < p.E.Length; k++)
            Assert.That(g.E[k], Is.EqualTo(Derivative(p, o, p.E, k, h)).Within(1e-6), $"dE[{k}]");
        for (int k = 0; k < p.C.Length; k++)
            Assert.That(g.C[k], Is.EqualTo(Derivative(p, o, p.C, k, h)).Within(1e-6), $"dC[{k}]");
        for (int k = 0; k < p.Bias!.Length; k++)
            Assert.That(g.Bias[k], Is.EqualTo(Derivative(p, o, p.Bias, k, h)).Within(1e-6), $"dBias[{k}]");
    }

    [Test]
    public void LogSumExpIsStableForHugeLogits() =>
        Assert.That(CceReference.LogSumExp([1e4, 1e4]), Is.EqualTo(1e4 + Math.Log(2)).Within(1e-9));

    // torch.logsumexp on non-finite values: the shift is the maximum only when it is finite.
    [TestCase(new[] { double.NaN, 1.0 }, double.NaN)]
    [TestCase(new[] { 1.0, double.NaN, double.PositiveInfinity }, double.NaN)]
    [TestCase(new[] { double.PositiveInfinity, 1.0 }, double.PositiveInfinity)]
    [TestCase(new[] { double.PositiveInfinity, double.PositiveInfinity }, double.PositiveInfinity)]
    [TestCase(new[] { double.NegativeInfinity, double.NegativeInfinity }, double.NegativeInfinity)]
    [TestCase(new double[0], double.NegativeInfinity)]
    [TestCase(new[] { double.NegativeInfinity, 0.0 }, 0.0)]
    [TestCase(new[] { double.NegativeInfinity, 1e4, 1e4 }, 1e4 + 0.69314718055994531)]
    public void LogSumExpFollowsTorchForNonFiniteValues(double[] z, double expected) =>
        Assert.That(CceReference.LogSumExp(z), Is.EqualTo(expected).Within(1e-9));

    [Test]
    public void DisabledTermsAreAbsentNotMultipliedByZero()
    {
        // Smoothing and z-loss off: an infinite lse or logit sum must not become 0 * inf = NaN.
        var plain = CceOptions.Default;
        Assert.That(CceReference.TokenLoss(double.PositiveInfinity, 1, double.NegativeInfinity, 4, plain),
            Is.EqualTo(double.PositiveInfinity));
        Assert.That(CceReference.LogitGrad(0.5, double.PositiveInfinity, false, 4, plain), Is.Zero);
        Assert.That(CceReference.LogitGrad(0.5, double.PositiveInfinity, true, 4, plain), Is.EqualTo(-1));
        var zLoss = new CceOptions { ZLoss = 0.01f };
        Assert.That(CceReference.LogitGrad(0.5, double.PositiveInfinity, false, 4, zLoss), Is.NaN); // 0 · inf
        var smoothing = new CceOptions { LabelSmoothing = 0.1f };
        Assert.That(CceReference.TokenLoss(double.PositiveInfinity, 1, double.PositiveInfinity, 4, smoothing), Is.NaN);
    }

    [Test]
    public void ErrorMeterPassesWithinAndFailsBeyondTolerance()
    {
        var meter = new ErrorMeter();
        meter.Add("x", [1.0, 2.0], [1.00005, 2.0], 1e-4, 0);
        Assert.That(meter.Passed, Is.True);
        meter.Add("y", [1.0], [1.01], 1e-4, 0);
        Assert.That(meter.Passed, Is.False);
        Assert.That(meter.Worst, Is.EqualTo("y[0]"));
        var nan = new ErrorMeter();
        nan.Add("z", [double.NaN], [0.0], 1, 1);
        Assert.That(nan.Passed, Is.False);
    }

    [Test]
    public void VerifierDetectsAWrongAnswer()
    {
        // A case whose options differ between backend and reference must fail: run the case with a
        // softcap the reference does not know about by comparing against a changed case.
        using var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        var c = CceCaseGenerator.Random(1, 1, CceCaseLimits.Tiny)[0] with { Kind = CceCaseKind.Forward, IgnoredFraction = 0 };
        var sabotaged = c with { Options = c.Options with { Softcap = 0.5f } };
        var data = CceCaseData.Create(c);
        var loss = new float[c.Options.LossLength(c.N)];
        var lse = new float[c.N];
        var shape = new CceShape(c.N, c.D, c.V);
        var e = data.E.Select(x => (float)x).ToArray();
        var cc = data.C.Select(x => (float)x).ToArray();
        var bias = data.Bias?.Select(x => (float)x).ToArray() ?? [];
        Cce.Forward(ctx, new CceInputs<float, long>(shape, e, cc, data.Targets, bias), loss, lse, sabotaged.Options);
        var r = CceReference.Forward(new CceReferenceProblem(c.N, c.D, c.V, data.E, data.C, data.Bias, data.Targets), c.Options);
        var meter = new ErrorMeter();
        meter.Add("lse", lse.Select(x => (double)x).ToArray(), r.Lse, 1e-4, 1e-4);
        Assert.That(meter.Passed, Is.False, "a softcap of 0.5 changes every lse");
    }

    private static double Derivative(CceReferenceProblem p, CceOptions o, double[] x, int k, double h)
    {
        double saved = x[k];
        x[k] = saved + h;
        double up = CceReference.Forward(p, o).Loss[0];
        x[k] = saved - h;
        double down = CceReference.Forward(p, o).Loss[0];
        x[k] = saved;
        return (up - down) / (2 * h);
    }
}
