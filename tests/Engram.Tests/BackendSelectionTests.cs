using Engram.Backends;
using Engram.Cli;

namespace Engram.Tests;

/// <summary>Auto picks native CUDA → ILGPU GPU → native CPU; a named backend that cannot run says why.</summary>
public sealed class BackendSelectionTests
{
    [Test]
    public void AutoPicksTheFirstAvailableInOrder()
    {
        var expected = BackendSelector.AutoOrder.First(b => BackendSelector.Probe(b).Available);
        Assert.That(BackendSelector.Resolve(EngramBackend.Auto), Is.EqualTo(expected));
        using var ctx = EngramContext.Create();
        Assert.That(ctx.Backend, Is.EqualTo(expected));
    }

    [Test]
    public void AutoPicksNativeCpuWithoutAnyGpu()
    {
        if (BackendSelector.Probe(EngramBackend.NativeCuda).Available || BackendSelector.Probe(EngramBackend.IlgpuGpu).Available)
            Assert.Ignore("this machine has a GPU backend, which Auto prefers");
        using var ctx = EngramContext.Create(EngramBackend.Auto);
        Assert.That(ctx.Backend, Is.EqualTo(EngramBackend.NativeCpu));
    }

    [Test]
    public void ForcingNativeCudaWithoutItSaysWhy()
    {
        var probe = BackendSelector.Probe(EngramBackend.NativeCuda);
        if (probe.Available) Assert.Ignore("native CUDA is available here: " + probe.Detail);
        var e = Assert.Throws<BackendUnavailableException>(() => EngramContext.Create(EngramBackend.NativeCuda))!;
        Assert.That(e.Backend, Is.EqualTo(EngramBackend.NativeCuda));
        Assert.That(e.Message, Does.Contain("NativeCuda").And.Contain(probe.Detail));
        Assert.That(e.Reason, Does.Contain("CUDA").IgnoreCase);
    }

    [Test]
    public void ForcingIlgpuGpuWithoutOneSaysWhy()
    {
        if (BackendSelector.Probe(EngramBackend.IlgpuGpu).Available) Assert.Ignore("an ILGPU GPU is available here");
        var e = Assert.Throws<BackendUnavailableException>(() => EngramContext.Create(EngramBackend.IlgpuGpu))!;
        Assert.That(e.Reason, Does.Contain("CUDA or OpenCL"));
    }

    [TestCase(EngramBackend.NativeCpu)]
    [TestCase(EngramBackend.IlgpuCpu)]
    public void CpuBackendsAlwaysExist(EngramBackend backend)
    {
        Assert.That(BackendSelector.Probe(backend).Available, Is.True);
        using var ctx = EngramContext.Create(backend);
        Assert.That(ctx.Backend, Is.EqualTo(backend));
        Assert.That(ctx.Device, Is.Not.Empty);
    }

    [Test]
    public void ProbeAllCoversEveryConcreteBackend() =>
        Assert.That(BackendSelector.ProbeAll().Select(p => p.Backend),
            Is.EquivalentTo(new[] { EngramBackend.NativeCuda, EngramBackend.IlgpuGpu, EngramBackend.NativeCpu, EngramBackend.IlgpuCpu }));

    [Test]
    public void ThreadsApplyOnlyToNativeCpu()
    {
        using var ctx = EngramContext.Create(EngramBackend.IlgpuCpu);
        Assert.That(ctx.Threads, Is.Zero);
        Assert.Throws<InvalidOperationException>(() => ctx.Threads = 2);
    }

    [TestCase("auto", EngramBackend.Auto)]
    [TestCase("cuda", EngramBackend.NativeCuda)]
    [TestCase("native-cpu", EngramBackend.NativeCpu)]
    [TestCase("CPU", EngramBackend.NativeCpu)]
    [TestCase("ilgpu-gpu", EngramBackend.IlgpuGpu)]
    [TestCase("ilgpu_cpu", EngramBackend.IlgpuCpu)]
    public void CommandLineNames(string name, EngramBackend backend) => Assert.That(BackendNames.Parse(name), Is.EqualTo(backend));

    [Test]
    public void UnknownBackendName() => Assert.Throws<ArgumentException>(() => BackendNames.Parse("tpu"));
}
