using Engram.Ops;
using Engram.Reference;

namespace Engram.Tests;

/// <summary>
/// The ILGPU fallback kernels on ILGPU's CPU accelerator (a simulator: tiny shapes, N ≤ 8, V ≤ 40,
/// D ≤ 16) against the float64 reference and against libengram's CPU backend.
/// </summary>
public sealed class IlgpuCceTests
{
    private EngramContext _ilgpu = null!;
    private EngramContext _native = null!;

    [OneTimeSetUp]
    public void Open()
    {
        _ilgpu = EngramContext.Create(EngramBackend.IlgpuCpu);
        _native = EngramContext.Create(EngramBackend.NativeCpu);
    }

    [OneTimeTearDown]
    public void Close()
    {
        _ilgpu.Dispose();
        _native.Dispose();
    }

    private static IEnumerable<TestCaseData> TinyCases() =>
        CceCaseGenerator.Random(seed: 7, count: 32, CceCaseLimits.Tiny)
            .Select((c, i) => new TestCaseData(c).SetArgDisplayNames($"{i:00} {c.Describe()}"));

    [TestCaseSource(nameof(TinyCases))]
    public void MatchesTheReference(CceCase c)
    {
        var r = CceVerifier.Run(_ilgpu, c);
        Assert.That(r.Error, Is.Null);
        Assert.That(r.Passed, Is.True, $"max abs err {r.MaxAbsError:E3} > tolerance {r.Tolerance:E3} at {r.Worst}");
    }

    [Test]
    public void AgreesWithNativeCpu()
    {
        var p = new TestSupport.Problem(8, 16, 40, seed: 3);
        var o = new CceOptions { Reduction = CceReduction.None, Softcap = 6, LabelSmoothing = 0.05f, ZLoss = 1e-3f };
        var (lossI, lseI, deI, dcI, dbI) = Run(_ilgpu, p, o);
        var (lossN, lseN, deN, dcN, dbN) = Run(_native, p, o);
        TestSupport.AssertClose(lossI, lossN.Select(x => (double)x).ToArray(), what: "loss");
        TestSupport.AssertClose(lseI, lseN.Select(x => (double)x).ToArray(), what: "lse");
        TestSupport.AssertClose(deI, deN.Select(x => (double)x).ToArray(), what: "grad_e");
        TestSupport.AssertClose(dcI, dcN.Select(x => (double)x).ToArray(), what: "grad_c");
        TestSupport.AssertClose(dbI, dbN.Select(x => (double)x).ToArray(), what: "grad_bias");
    }

    [Test]
    public void TargetOutOfRangeIsAnEngramException()
    {
        var p = new TestSupport.Problem(4, 4, 9);
        p.Targets[2] = 9;
        var e = Assert.Throws<EngramException>(() => Cce.Forward(_ilgpu, p.Inputs, new float[1]))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.OutOfRange));
        Assert.That(e.Message, Does.Contain("targets[2]"));
    }

    [Test]
    public void FilterSkipsLogitsAndCountsThem()
    {
        var p = new TestSupport.Problem(6, 8, 40);
        Cce.Backward(_ilgpu, p.Inputs, new CceGrads<float>(new float[p.N * p.D]), options: new CceOptions { FilterEps = 0 });
        var exact = _ilgpu.LastOpStats;
        Assert.That(exact.BlocksTotal, Is.EqualTo((ulong)(exact.TokensValid * (ulong)p.V)));
        Assert.That(exact.BlocksSkipped, Is.Zero);
        Cce.Backward(_ilgpu, p.Inputs, new CceGrads<float>(new float[p.N * p.D]), options: new CceOptions { FilterEps = 0.5f });
        Assert.That(_ilgpu.LastOpStats.BlocksSkipped, Is.GreaterThan(0));
    }

    [Test]
    public void GradBiasAloneNeedsNoOtherOutput()
    {
        var p = new TestSupport.Problem(5, 3, 11);
        var db = new float[p.V];
        Cce.Backward(_ilgpu, p.Inputs, new CceGrads<float>(bias: db));
        TestSupport.AssertClose(db, CceReference.Backward(p.Reference, CceOptions.Default, default).Bias, what: "grad_bias");
    }

    [Test]
    public void MemoryIsCountedAndReleased()
    {
        var p = new TestSupport.Problem(4, 4, 9);
        _ilgpu.ResetPeakMemory();
        Cce.Forward(_ilgpu, p.Inputs, new float[1]);
        Assert.That(_ilgpu.MemoryStats.PeakBytes, Is.GreaterThan(0));
        Assert.That(_ilgpu.MemoryStats.CurrentBytes, Is.Zero);
    }

    [Test]
    public void DeviceBuffersBelongToNativeCuda() =>
        Assert.Throws<InvalidOperationException>(() => DeviceBuffer<float>.Allocate(_ilgpu, 4));

    [Test]
    public void IlgpuGpuMatchesTheReference()
    {
        TestSupport.RequireBackend(EngramBackend.IlgpuGpu);
        using var gpu = EngramContext.Create(EngramBackend.IlgpuGpu);
        foreach (var c in CceCaseGenerator.Random(seed: 11, count: 16, CceCaseLimits.Normal))
        {
            var r = CceVerifier.Run(gpu, c);
            Assert.That(r.Passed, Is.True, $"{c.Describe()}: {r.Error} err {r.MaxAbsError:E3} tol {r.Tolerance:E3} at {r.Worst}");
        }
    }

    private static (float[] Loss, float[] Lse, float[] E, float[] C, float[] Bias) Run(EngramContext ctx,
        TestSupport.Problem p, CceOptions o)
    {
        var loss = new float[p.N];
        var lse = new float[p.N];
        var de = new float[p.N * p.D];
        var dc = new float[p.V * p.D];
        var db = new float[p.V];
        Cce.ForwardBackward(ctx, p.Inputs, new CceGrads<float>(de, dc, db), loss, lse, options: o);
        return (loss, lse, de, dc, db);
    }
}
