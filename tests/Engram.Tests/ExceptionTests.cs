using Engram.Ops;

namespace Engram.Tests;

/// <summary>Native failures surface as EngramException with the native status and message.</summary>
public sealed class ExceptionTests
{
    private EngramContext _ctx = null!;

    [OneTimeSetUp]
    public void Open() => _ctx = EngramContext.Create(EngramBackend.NativeCpu);

    [OneTimeTearDown]
    public void Close() => _ctx.Dispose();

    [Test]
    public void TargetOutOfRangeCarriesStatusAndNativeMessage()
    {
        var p = new TestSupport.Problem(5, 4, 11);
        p.Targets[3] = 11; // v = 11: one past the end
        var e = Assert.Throws<EngramException>(() => Cce.Forward(_ctx, p.Inputs, new float[1]))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.OutOfRange));
        Assert.That(e.Message, Does.Contain("targets[3]"));
        Assert.That(e.Message, Does.Contain("ENGRAM_ERR_OUT_OF_RANGE"));
        Assert.That(e.NativeMessage, Does.StartWith("engram_cce_forward"));
    }

    [Test]
    public void NegativeTargetOtherThanIgnoreIndexIsOutOfRange()
    {
        var p = new TestSupport.Problem(4, 4, 7);
        p.Targets[0] = -5;
        var e = Assert.Throws<EngramException>(() => Cce.Forward(_ctx, p.Inputs, new float[1]))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.OutOfRange));
        Assert.That(e.Message, Does.Contain("targets[0]"));
    }

    [Test]
    public void UncheckedTargetsAreTrusted()
    {
        var p = new TestSupport.Problem(4, 4, 7);
        p.Targets[1] = 99;
        Assert.DoesNotThrow(() => Cce.Forward(_ctx, p.Inputs, new float[1], options: new CceOptions { CheckTargets = false }));
    }

    [Test]
    public void BadThreadCountIsRejectedByTheLibrary()
    {
        var e = Assert.Throws<EngramException>(() => _ctx.Threads = -1)!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.InvalidArgument));
        Assert.That(e.Message, Does.Contain("threads"));
    }

    [Test]
    public void DeviceMemoryNeedsANativeCudaContext()
    {
        var e = Assert.Throws<InvalidOperationException>(() => DeviceBuffer<float>.Allocate(_ctx, 16))!;
        Assert.That(e.Message, Does.Contain("NativeCuda"));
    }

    [Test]
    public void ElapsedMsNeedsANativeCudaContext() =>
        Assert.Throws<InvalidOperationException>(() => _ctx.ElapsedMs(() => { }));

    [Test]
    public void ExceptionsLeaveTheContextUsable()
    {
        var p = new TestSupport.Problem(4, 4, 7);
        p.Targets[2] = 1000;
        Assert.Throws<EngramException>(() => Cce.Forward(_ctx, p.Inputs, new float[1]));
        p.Targets[2] = 1;
        var loss = new float[1];
        Cce.Forward(_ctx, p.Inputs, loss);
        Assert.That(float.IsFinite(loss[0]), Is.True);
    }
}
