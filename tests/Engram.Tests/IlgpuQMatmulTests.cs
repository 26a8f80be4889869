using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// The ILGPU 2-bit GEMV on ILGPU's CPU accelerator against dequantise-then-matmul in float64 (matrices
/// quantized by libengram), both layouts and 16-bit types; the quantizers route to libengram.
/// </summary>
public sealed class IlgpuQMatmulTests
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

    [TestCase(1, 1, 32, 32, QLayout.Plain)]
    [TestCase(1, 7, 64, 32, QLayout.CpuPrepared)]
    [TestCase(3, 5, 128, 64, QLayout.Plain)]
    public void GemvMatchesTheReference(int m, int nOut, int k, int g, QLayout layout)
    {
        QMatmulReference.CheckMultiply<float, float, float>(_ilgpu, _native, m, nOut, k, g, layout, seed: nOut);
        Assert.That(_ilgpu.LastOpStats.Backend, Is.EqualTo(EngramBackend.IlgpuCpu));
        Assert.That(_ilgpu.LastOpStats.Counter("weight_bytes"), Is.EqualTo((ulong)(nOut * (k / 16) * 4 + 2 * nOut * (k / g) * 4)));
    }

    [Test]
    public void SixteenBitTypes()
    {
        QMatmulReference.CheckMultiply<BFloat16, BFloat16, Half>(_ilgpu, _native, 2, 3, 64, 32, QLayout.Plain, 1);
        QMatmulReference.CheckMultiply<Half, float, float>(_ilgpu, _native, 1, 4, 32, 32, QLayout.CpuPrepared, 2);
    }

    [Test]
    public void RulesMatchLibengrams()
    {
        var w = new QuantizedMatrix<float>(2, 48, 32, new uint[6], new float[2], new float[2]); // 32 does not divide 48
        var e = Assert.Throws<EngramArgumentException>(() => QMatmul.Multiply<float, float, float>(_ilgpu, w, 1, new float[48], new float[2]))!;
        Assert.That(e.Message, Does.Contain("group_size"));
        var ok = new QuantizedMatrix<float>(2, 32, 32, new uint[4], new float[2], new float[2]);
        Assert.Throws<EngramArgumentException>(() => QMatmul.Multiply<Half, BFloat16, float>(_ilgpu, ok, 1, new Half[32], new BFloat16[2]), "y dtype");
    }

    [Test]
    public void QuantizersHaveNoIlgpuPort()
    {
        var e = Assert.Throws<EngramException>(() => QMatmul.QuantizeRtn<float, float>(_ilgpu, 1, 32, new float[32], 32))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.Unsupported));
        using var auto = EngramContext.Create([EngramBackend.IlgpuCpu, EngramBackend.NativeCpu]);
        Assert.That(auto.BackendFor(EngramOp.QmatmulQuantizeRtn, EngramDType.F32), Is.EqualTo(EngramBackend.NativeCpu));
        Assert.That(auto.BackendFor(EngramOp.Qmatmul, EngramDType.F32), Is.EqualTo(EngramBackend.IlgpuCpu));
    }
}
