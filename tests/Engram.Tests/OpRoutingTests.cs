using Engram.Backends;
using Engram.Ilgpu;
using Engram.Ops;
using Engram.Reference;

namespace Engram.Tests;

/// <summary>
/// A context routes each op to the first of its backends that supports it: libengram's
/// engram_op_supported for native backends, the table of ILGPU ports for ILGPU. A family without an ILGPU
/// port must not break Auto: its ops go to a native backend while the others stay on ILGPU.
/// </summary>
public sealed class OpRoutingTests
{
    private static readonly EngramDType[] FloatDTypes = [EngramDType.F32, EngramDType.F16, EngramDType.BF16];

    [Test]
    public void OpEnumMirrorsTheNativeRegistry()
    {
        var native = EngramOps.List();
        var managed = Enum.GetValues<EngramOp>().Where(o => o != EngramOp.None).Select(o => (int)o).ToList();
        Assert.That(native, Is.EquivalentTo(managed), "every native op has an EngramOp member and vice versa");
        foreach (var op in Enum.GetValues<EngramOp>().Where(o => o != EngramOp.None))
        {
            // cce_shard_forward <-> CceShardForward
            string pascal = string.Concat(EngramOps.Name(op)!.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
            Assert.That(op.ToString(), Is.EqualTo(pascal), $"op {(int)op}");
            // Each family has its block of 100 ids: 1 cce, 2 scan, 3 attention, 4 qmatmul.
            string[] families = ["", "cce", "scan", "attention", "qmatmul"];
            Assert.That(EngramOps.Family(op), Is.EqualTo(families[(int)op / 100]), $"op {(int)op}");
        }
        Assert.That(EngramOps.Name((EngramOp)299), Is.Null, "an id the library does not know");
    }

    [Test]
    public void IlgpuPortsAreOpsAndDTypesLibengramAlsoRunsOnCpu()
    {
        // The ILGPU table claims nothing libengram's own registry would reject for the op.
        foreach (var op in IlgpuOpTable.Default.Ops)
            foreach (var dtype in FloatDTypes.Where(d => IlgpuOpTable.Default.WhyNotSupported(op, d) is null))
                Assert.That(NativeEngine.WhyNotSupported(EngramBackend.NativeCpu, op, dtype), Is.Null, $"{op} {dtype}");
    }

    [Test]
    public void AutoRoutesEveryOpToTheFirstBackendThatSupportsIt()
    {
        using var ctx = EngramContext.Create();
        Assert.That(ctx.Backends, Is.EqualTo(BackendSelector.AutoOrder.Where(b => BackendSelector.Probe(b).Available)));
        Assert.That(ctx.Backend, Is.EqualTo(ctx.Backends[0]));
        foreach (var op in Enum.GetValues<EngramOp>().Where(o => o != EngramOp.None))
            foreach (var dtype in FloatDTypes)
            {
                var expected = ctx.Backends.FirstOrDefault(b => Supports(b, op, dtype), (EngramBackend)(-1));
                if ((int)expected < 0) Assert.Throws<EngramException>(() => ctx.BackendFor(op, dtype), $"{op} {dtype}");
                else Assert.That(ctx.BackendFor(op, dtype), Is.EqualTo(expected), $"{op} {dtype}");
            }
    }

    [Test]
    public void AnOpWithoutAnIlgpuPortRunsOnNativeWhileTheOthersStayOnIlgpu()
    {
        // ILGPU first (as Auto on a machine with an ILGPU GPU and no CUDA build), with the combine step
        // taken out of the ILGPU table: what Auto sees for a family that has no ILGPU port.
        var table = IlgpuOpTable.Default.Without(EngramOp.CceShardCombine);
        using var ctx = EngramContext.Create([EngramBackend.IlgpuCpu, EngramBackend.NativeCpu], 0, table);
        Assert.That(ctx.Backends, Is.EqualTo(new[] { EngramBackend.IlgpuCpu, EngramBackend.NativeCpu }));
        Assert.That(ctx.BackendFor(EngramOp.CceShardForward, EngramDType.F32), Is.EqualTo(EngramBackend.IlgpuCpu));
        Assert.That(ctx.BackendFor(EngramOp.CceShardCombine, EngramDType.F32), Is.EqualTo(EngramBackend.NativeCpu));

        // And the ops really run there: two vocabulary shards on ILGPU, their combine on libengram's CPU.
        var p = new TestSupport.Problem(5, 4, 12, seed: 3);
        int n = p.N, d = p.D, half = p.V / 2;
        var shardLse = new float[2 * n];
        var targetLogit = new float[n];
        for (int s = 0; s < 2; s++)
        {
            var inputs = new CceInputs<float, long>(CceShape.Shard(n, d, s * half, half, p.V),
                p.E, p.C.AsSpan(s * half * d, half * d), p.Targets, p.Bias.AsSpan(s * half, half));
            var partial = new float[n];
            Cce.ShardForward(ctx, inputs, shardLse.AsSpan(s * n, n), partial);
            Assert.That(ctx.LastOpStats.Op, Is.EqualTo(EngramOp.CceShardForward));
            Assert.That(ctx.LastOpStats.Backend, Is.EqualTo(EngramBackend.IlgpuCpu));
            for (int i = 0; i < n; i++) targetLogit[i] += partial[i];
        }
        var loss = new float[1];
        var lse = new float[n];
        Cce.ShardCombine<long>(ctx, 2, p.V, shardLse, targetLogit, default, p.Targets, loss, lse);
        Assert.That(ctx.LastOpStats.Op, Is.EqualTo(EngramOp.CceShardCombine));
        Assert.That(ctx.LastOpStats.Backend, Is.EqualTo(EngramBackend.NativeCpu));

        var reference = CceReference.Forward(p.Reference, CceOptions.Default);
        TestSupport.AssertClose(loss, reference.Loss, what: "loss");
        var expectedLse = reference.Lse.Select((x, i) => p.Targets[i] == -100 ? 0 : x).ToArray();
        TestSupport.AssertClose(lse, expectedLse, what: "lse");
    }

    [Test]
    public void ANamedBackendServesOnlyWhatItSupports()
    {
        var table = IlgpuOpTable.Default.Without(EngramOp.CceShardCombine);
        using var ctx = EngramContext.Create([EngramBackend.IlgpuCpu], 0, table);
        var e = Assert.Throws<EngramException>(() => ctx.BackendFor(EngramOp.CceShardCombine, EngramDType.F32))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.Unsupported));
        Assert.That(e.Message, Does.Contain("cce_shard_combine").And.Contain("IlgpuCpu: cce_shard_combine has no ILGPU port"));
        Assert.Throws<EngramException>(() =>
            Cce.ShardCombine<long>(ctx, 1, 4, new float[2], new float[2], default, [0L, 1L], new float[1]));
    }

    [Test]
    public void ADTypeNoBackendTakesSaysWhyForEachBackend()
    {
        using var ctx = EngramContext.Create([EngramBackend.NativeCpu, EngramBackend.IlgpuCpu]);
        var e = Assert.Throws<EngramException>(() => ctx.BackendFor(EngramOp.CceShardCombine, EngramDType.BF16))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.Unsupported));
        Assert.That(e.NativeMessage, Does.Contain("NativeCpu: ").And.Contain("IlgpuCpu: the ILGPU port of cce_shard_combine does not take bf16"));
    }

    [Test]
    public void AnOpOrDTypeLibengramDoesNotKnowIsAnArgumentError()
    {
        using var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        var op = Assert.Throws<EngramArgumentException>(() => ctx.BackendFor((EngramOp)299, EngramDType.F32))!;
        Assert.That(op.NativeMessage, Does.Contain("op"));
        Assert.Throws<EngramArgumentException>(() => ctx.BackendFor(EngramOp.CceForward, (EngramDType)77));
    }

    [Test]
    public void APreferenceListLeavesOutWhatCannotRunHere()
    {
        TestSupport.RequireMissing(EngramBackend.IlgpuGpu);
        using var ctx = EngramContext.Create([EngramBackend.IlgpuGpu, EngramBackend.NativeCpu]);
        Assert.That(ctx.Backends, Is.EqualTo(new[] { EngramBackend.NativeCpu }));
        Assert.Throws<ArgumentException>(() => EngramContext.Create([EngramBackend.Auto]));
        Assert.Throws<ArgumentException>(() => EngramContext.Create(Array.Empty<EngramBackend>()));
    }

    [Test]
    public void LastOpStatsSayWhichOpRanWhere()
    {
        using var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        Assert.That(ctx.LastOpStats.Op, Is.EqualTo(EngramOp.None));
        var p = new TestSupport.Problem(6, 4, 10);
        Cce.ForwardBackward(ctx, p.Inputs, new CceGrads<float>(e: new float[p.N * p.D]), new float[1]);
        var stats = ctx.LastOpStats;
        Assert.That(stats.Op, Is.EqualTo(EngramOp.CceForwardBackward));
        Assert.That(stats.Backend, Is.EqualTo(EngramBackend.NativeCpu));
        Assert.That(stats.Counter("tokens_valid"), Is.EqualTo(stats.TokensValid).And.EqualTo(4UL), "6 tokens, every third ignored");
        Assert.That(stats.Counters.Keys, Does.Contain("blocks_total"));
    }

    private static bool Supports(EngramBackend backend, EngramOp op, EngramDType dtype) => backend switch
    {
        EngramBackend.NativeCpu or EngramBackend.NativeCuda => NativeEngine.WhyNotSupported(backend, op, dtype) is null,
        _ => IlgpuOpTable.Default.WhyNotSupported(op, dtype) is null,
    };
}
