using Engram.Ops;
using Engram.Reference;

namespace Engram.Tests;

/// <summary>libengram's CUDA backend: device buffers and CCE on them. Skipped where there is no CUDA device.</summary>
public sealed class CudaTests
{
    private EngramContext _ctx = null!;

    [SetUp]
    public void Open()
    {
        TestSupport.RequireBackend(EngramBackend.NativeCuda);
        _ctx = EngramContext.Create(EngramBackend.NativeCuda);
    }

    [TearDown]
    public void Close() => _ctx?.Dispose();

    [Test]
    public void DeviceBufferRoundTrip()
    {
        float[] data = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
        using var buffer = DeviceBuffer<float>.From(_ctx, data);
        Assert.That(buffer.Length, Is.EqualTo(1000));
        Assert.That(buffer.ToArray(), Is.EqualTo(data));
        buffer.Clear();
        Assert.That(buffer.ToArray(), Is.All.Zero);
        Assert.Throws<ArgumentException>(() => buffer.CopyFrom(new float[999]));
    }

    [Test]
    public void HostSpansAreStagedThroughTheDevice()
    {
        foreach (var c in CceCaseGenerator.Random(seed: 5, count: 24, CceCaseLimits.Normal))
        {
            var r = CceVerifier.Run(_ctx, c);
            Assert.That(r.Passed, Is.True, $"{c.Describe()}: {r.Error} err {r.MaxAbsError:E3} tol {r.Tolerance:E3} at {r.Worst}");
        }
    }

    [Test]
    public void DeviceBuffersGiveTheSameResultsAsHostSpans()
    {
        var p = new TestSupport.Problem(33, 40, 517);
        var o = new CceOptions { Reduction = CceReduction.None, Softcap = 10 };
        using var e = DeviceBuffer<float>.From(_ctx, p.E);
        using var c = DeviceBuffer<float>.From(_ctx, p.C);
        using var bias = DeviceBuffer<float>.From(_ctx, p.Bias);
        using var targets = DeviceBuffer<long>.From(_ctx, p.Targets);
        using var loss = DeviceBuffer<float>.Allocate(_ctx, p.N);
        using var lse = DeviceBuffer<float>.Allocate(_ctx, p.N);
        using var de = DeviceBuffer<float>.Allocate(_ctx, p.N * p.D);
        var inputs = new CceDeviceInputs<float, long>(p.Shape, e, c, targets, bias);
        Cce.Forward(_ctx, inputs, loss, lse, o);
        Cce.Backward(_ctx, inputs, new CceDeviceGrads<float>(E: de), lse, options: o);
        var r = CceReference.Forward(p.Reference, o);
        TestSupport.AssertClose(loss.ToArray(), r.Loss, what: "loss");
        TestSupport.AssertClose(lse.ToArray(), r.Lse, what: "lse");
        TestSupport.AssertClose(de.ToArray(), CceReference.Backward(p.Reference, o, default).E, 1e-4, 1e-3, "grad_e");
    }

    [Test]
    public void EventsTimeWork()
    {
        using var buffer = DeviceBuffer<float>.Allocate(_ctx, 1 << 20);
        float ms = _ctx.ElapsedMs(buffer.Clear);
        Assert.That(ms, Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void TargetOutOfRangeOnTheDevice()
    {
        var p = new TestSupport.Problem(4, 4, 9);
        p.Targets[1] = 9;
        var e = Assert.Throws<EngramException>(() => Cce.Forward(_ctx, p.Inputs, new float[1]))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.OutOfRange));
        Assert.That(e.Message, Does.Contain("targets["));
    }
}
