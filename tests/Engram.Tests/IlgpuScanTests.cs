using System.Runtime.InteropServices;
using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// The ILGPU scan port (recurrent kernel) on ILGPU's CPU accelerator at small sizes, against the float64
/// recurrence with the error model of <see cref="ScanTests"/>, and its argument rules.
/// </summary>
public sealed class IlgpuScanTests
{
    private EngramContext _ctx = null!;

    [OneTimeSetUp]
    public void Open() => _ctx = EngramContext.Create(EngramBackend.IlgpuCpu);

    [OneTimeTearDown]
    public void Close() => _ctx.Dispose();

    [TestCase(1, 1, 1, 1, 1, 0, ScanGate.None)]
    [TestCase(2, 7, 3, 5, 3, 1, ScanGate.Scalar)]
    [TestCase(1, 6, 4, 3, 4, 2, ScanGate.Vector)]
    public void ForwardMatchesTheRecurrence(int b, int t, int h, int k, int v, int hk, ScanGate gate)
    {
        var c = new ScanCase(new ScanShape(b, t, h, k, v, hk), gate, seed: 13, initialState: true);
        var output = new float[c.OutLength];
        var final = new float[c.StateLength];
        Scan.LinearForward(_ctx, c.Inputs(), output, final);
        double scale = ScanOptions.Default.ResolvedScale(k);
        var (eo, es) = c.Reference(scale);
        var (mo, ms) = ScanTests.Magnitude(c, scale);
        ScanTests.AssertScan(output, eo, mo, c, EngramDType.F32, "o");
        ScanTests.AssertScan(final, es, ms, c, EngramDType.F32, "final_state");
        Assert.That(_ctx.LastOpStats.Backend, Is.EqualTo(EngramBackend.IlgpuCpu));
        Assert.That(_ctx.LastOpStats.Counter("chunks"), Is.EqualTo((ulong)(b * h * t)));
    }

    [Test]
    public void Bf16InputsAndOutput()
    {
        var shape = new ScanShape(1, 5, 2, 4, 3);
        var c = new ScanCase(shape, ScanGate.Scalar, seed: 2, initialState: false);
        var (q, k, v) = c.As<BFloat16>();
        var output = new BFloat16[c.OutLength];
        Scan.LinearForward(_ctx, new ScanInputs<BFloat16>(shape, q, k, v, ScanGate.Scalar, c.G), output.AsSpan());
        var widened = output.Select(x => x.ToSingle()).ToArray();
        var (eo, _) = c.Reference(0.5);
        var (mo, _) = ScanTests.Magnitude(c, 0.5);
        ScanTests.AssertScan(widened, eo, mo, c, EngramDType.BF16, "o");
    }

    [Test]
    public void DecodeInPlaceEqualsTheNativeDecode()
    {
        var shape = new ScanShape(2, 1, 2, 3, 4, 1);
        var c = new ScanCase(shape, ScanGate.Vector, seed: 8, initialState: true);
        using var native = EngramContext.Create(EngramBackend.NativeCpu);
        var stateI = c.S0.ToArray();
        var stateN = c.S0.ToArray();
        var oI = new float[c.OutLength];
        var oN = new float[c.OutLength];
        Scan.LinearDecode(_ctx, new ScanInputs<float>(shape, c.Q, c.K, c.V, ScanGate.Vector, c.G, stateI), oI, stateI);
        Scan.LinearDecode(native, new ScanInputs<float>(shape, c.Q, c.K, c.V, ScanGate.Vector, c.G, stateN), oN, stateN);
        TestSupport.AssertClose(oI, oN.Select(x => (double)x).ToArray(), 1e-5, 1e-5, "o");
        TestSupport.AssertClose(stateI, stateN.Select(x => (double)x).ToArray(), 1e-5, 1e-5, "state");
    }

    [Test]
    public void NaNInTheGateSpreadsForwardInTimeAsInLibengram()
    {
        // NaN in g at token s of (b, h): o is NaN for every t >= s of that sequence and head, earlier tokens
        // and other heads unaffected (engram_scan.h); the same on both backends.
        var shape = new ScanShape(1, 5, 2, 3, 2);
        var c = new ScanCase(shape, ScanGate.Scalar, seed: 6, initialState: false);
        c.G[2 * 2 + 1] = float.NaN; // token 2, head 1
        using var native = EngramContext.Create(EngramBackend.NativeCpu);
        foreach (var ctx in new[] { _ctx, native })
        {
            var o = new float[c.OutLength];
            Scan.LinearForward(ctx, c.Inputs(), o);
            for (int t = 0; t < 5; t++)
            for (int h = 0; h < 2; h++)
            for (int j = 0; j < 2; j++)
                Assert.That(float.IsNaN(o[(t * 2 + h) * 2 + j]), Is.EqualTo(h == 1 && t >= 2), $"{ctx.Backend}: o[t={t}, h={h}, j={j}]");
        }
    }

    [Test]
    public void RulesMatchLibengrams()
    {
        var shape = new ScanShape(1, 2, 3, 2, 2, 2); // 2 q/k heads do not divide 3 value heads
        var c = new ScanCase(new ScanShape(1, 2, 3, 2, 2, 3), ScanGate.None, 1, false);
        var e = Assert.Throws<EngramArgumentException>(() =>
            Scan.LinearForward(_ctx, new ScanInputs<float>(shape, new float[8], new float[8], c.V), new float[c.OutLength]))!;
        Assert.That(e.Message, Does.Contain("qk_heads"));
        Assert.Throws<EngramArgumentException>(() =>
            Scan.LinearDecode(_ctx, c.Inputs(), new float[c.OutLength], new float[c.StateLength]), "decode with t = 2");
        var output = new float[c.OutLength];
        Assert.Throws<EngramArgumentException>(() =>
            Scan.LinearForward(_ctx, new ScanInputs<float>(c.Shape, c.Q, c.K, MemoryMarshal.Cast<float, float>(output)), output),
            "o overlapping v");
    }

    [Test]
    public void BackwardIsRoutedToLibengramUnderAuto()
    {
        using var ctx = EngramContext.Create([EngramBackend.IlgpuCpu, EngramBackend.NativeCpu]);
        Assert.That(ctx.BackendFor(EngramOp.ScanLinearForward, EngramDType.F32), Is.EqualTo(EngramBackend.IlgpuCpu));
        Assert.That(ctx.BackendFor(EngramOp.ScanLinearBackward, EngramDType.F32), Is.EqualTo(EngramBackend.NativeCpu));
        Assert.Throws<EngramException>(() => _ctx.BackendFor(EngramOp.ScanLinearBackward, EngramDType.F32));
    }
}
