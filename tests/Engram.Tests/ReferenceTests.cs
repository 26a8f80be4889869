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
