using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// Native failures surface with the native status and message: ENGRAM_ERR_INVALID_ARGUMENT as
/// EngramArgumentException (an ArgumentException), every other status as EngramException.
/// </summary>
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
        var e = Assert.Throws<EngramArgumentException>(() => _ctx.Threads = -1)!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.InvalidArgument));
        Assert.That(e.Message, Does.Contain("threads"));
    }

    [Test]
    public void InvalidArgumentIsAnArgumentExceptionCarryingTheNativeStatusAndMessage()
    {
        var p = new TestSupport.Problem(5, 4, 11);
        var e = Assert.Throws<EngramArgumentException>(
            () => Cce.Forward(_ctx, p.Inputs, new float[1], options: new CceOptions { ZLoss = -1 }))!;
        Assert.That(e, Is.InstanceOf<ArgumentException>());
        Assert.That(e, Is.InstanceOf<IEngramError>());
        Assert.That(e.Status, Is.EqualTo(EngramStatus.InvalidArgument));
        Assert.That(e.NativeMessage, Does.StartWith("engram_cce_forward").And.Contain("opts->z_loss"));
        Assert.That(e.Message, Does.Contain("opts->z_loss").And.Contain("ENGRAM_ERR_INVALID_ARGUMENT"));
        Assert.That(e.ParamName, Is.EqualTo("opts->z_loss"), "the argument libengram named");
    }

    [Test]
    public void OtherStatusesStayEngramExceptions()
    {
        var p = new TestSupport.Problem(5, 4, 11);
        p.Targets[0] = 11;
        var outOfRange = Assert.Throws<EngramException>(() => Cce.Forward(_ctx, p.Inputs, new float[1]))!;
        Assert.That(outOfRange, Is.Not.InstanceOf<ArgumentException>());
        p.Targets[0] = 1;
        // Half gradients for float inputs: a dtype libengram does not write (ENGRAM_ERR_UNSUPPORTED).
        var unsupported = Assert.Throws<EngramException>(
            () => Cce.Backward(_ctx, p.Inputs, new CceGrads<Half>(e: new Half[p.N * p.D])))!;
        Assert.That(unsupported.Status, Is.EqualTo(EngramStatus.Unsupported));
        Assert.That(unsupported.NativeMessage, Does.Contain("grads->dtype"));
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
