using Engram.Native;

namespace Engram.Tests;

/// <summary>The Info/Context bindings: version, capabilities, status strings, contexts and their handles.</summary>
public sealed class NativeBindingTests
{
    [Test]
    public void VersionIsSemantic() => Assert.That(EngramLibrary.Version, Does.Match(@"^\d+\.\d+\.\d+$"));

    [Test]
    public void CapabilitiesDescribeTheCpuBackend()
    {
        var caps = EngramLibrary.Capabilities;
        Assert.Multiple(() =>
        {
            Assert.That(caps.AbiVersion, Is.EqualTo(EngramLibrary.HeaderAbiVersion));
            Assert.That(caps.CpuThreads, Is.GreaterThan(0));
            Assert.That(caps.CpuName, Is.Not.Empty);
            Assert.That(caps.CpuDTypes, Is.EquivalentTo(new[] { EngramDType.F32, EngramDType.F16, EngramDType.BF16 }));
            Assert.That(caps.CudaStatus, Is.Not.Empty);
            Assert.That(Enum.IsDefined(caps.CpuIsa), Is.True);
            if (!caps.CudaBuilt) Assert.That(caps.CudaDeviceCount, Is.Zero);
        });
    }

    [Test]
    public void StatusNamesComeFromTheLibrary()
    {
        Assert.That(NativeMethods.StatusName(EngramStatus.OutOfRange), Is.EqualTo("ENGRAM_ERR_OUT_OF_RANGE"));
        Assert.That(NativeMethods.StatusName(EngramStatus.Ok), Is.EqualTo("ENGRAM_OK"));
    }

    [TestCase(EngramDType.F32, 4u)]
    [TestCase(EngramDType.F16, 2u)]
    [TestCase(EngramDType.BF16, 2u)]
    [TestCase(EngramDType.I32, 4u)]
    [TestCase(EngramDType.I64, 8u)]
    public void DTypeSizesAgree(EngramDType dtype, uint size)
    {
        Assert.That((uint)NativeMethods.engram_dtype_size(dtype), Is.EqualTo(size));
        Assert.That(DTypes.Size(dtype), Is.EqualTo((int)size));
    }

    [Test]
    public void DTypeBitsAgreeForEveryDType()
    {
        foreach (var dtype in Enum.GetValues<EngramDType>())
            Assert.That(DTypes.Bits(dtype), Is.EqualTo(NativeMethods.engram_dtype_bits(dtype)).And.Positive, DTypes.Name(dtype));
        Assert.That(NativeMethods.engram_dtype_bits(EngramDType.U2), Is.EqualTo(2));
        Assert.That((uint)NativeMethods.engram_dtype_size(EngramDType.U2), Is.Zero, "smaller than a byte");
        Assert.Throws<ArgumentOutOfRangeException>(() => DTypes.Size(EngramDType.U2));
    }

    [Test]
    public void CudaDeviceInfoWithoutCudaIsAClearError()
    {
        if (EngramLibrary.Capabilities.CudaDeviceCount > 0) Assert.Ignore("this machine has a CUDA device");
        var e = Assert.Throws<EngramException>(() => EngramLibrary.CudaDevice(0))!;
        Assert.That(e.Status, Is.AnyOf(EngramStatus.Unsupported, EngramStatus.NoDevice));
        Assert.That(e.NativeMessage, Is.Not.Empty);
    }

    [Test]
    public void NativeCpuContextReportsItsBackendAndThreads()
    {
        using var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        Assert.That(ctx.Backend, Is.EqualTo(EngramBackend.NativeCpu));
        Assert.That(ctx.IsNative, Is.True);
        Assert.That(ctx.Threads, Is.EqualTo(EngramLibrary.Capabilities.CpuThreads));
        ctx.Threads = 1;
        Assert.That(ctx.Threads, Is.EqualTo(1));
        ctx.Threads = 0; // restores the default
        Assert.That(ctx.Threads, Is.EqualTo(EngramLibrary.Capabilities.CpuThreads));
        Assert.That(NativeMethods.engram_context_get_backend(ctx.NativeHandle!, out var kind), Is.EqualTo(EngramStatus.Ok));
        Assert.That(kind, Is.EqualTo(NativeBackendKind.Cpu));
    }

    [Test]
    public void DisposedContextThrowsAndReleasesItsHandle()
    {
        var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        var handle = ctx.NativeHandle!;
        ctx.Dispose();
        Assert.That(handle.IsClosed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => _ = ctx.MemoryStats);
        ctx.Dispose(); // twice is fine
    }

    [Test]
    public void MemoryStatsStartEmptyAndPeakCanBeReset()
    {
        using var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        Assert.That(ctx.MemoryStats.CurrentBytes, Is.Zero);
        var p = new TestSupport.Problem(16, 8, 300);
        Engram.Ops.Cce.Forward(ctx, p.Inputs, new float[1]);
        var after = ctx.MemoryStats;
        Assert.That(after.CurrentBytes, Is.Zero, "scratch is released after the op");
        ctx.ResetPeakMemory();
        Assert.That(ctx.MemoryStats.PeakBytes, Is.EqualTo(ctx.MemoryStats.CurrentBytes));
    }

    [Test]
    public void ResolverSaysWhereItLooked()
    {
        var candidates = NativeLibraryResolver.Candidates().ToList();
        Assert.That(candidates, Has.Some.EndsWith(NativeLibraryResolver.FileName));
        Assert.That(EngramLibrary.LoadedFrom, Is.Not.Null.And.Not.Empty);
    }
}
