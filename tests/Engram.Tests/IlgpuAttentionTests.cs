using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// The ILGPU attention port (a host-held cache and the decode kernels) on ILGPU's CPU accelerator, through
/// the same scenarios as libengram's (<see cref="AttentionScenarios"/>): dense and streaming decode against
/// the float64 model, byte counts, capacity and policy rules.
/// </summary>
public sealed class IlgpuAttentionTests
{
    private EngramContext _ctx = null!;

    [OneTimeSetUp]
    public void Open() => _ctx = EngramContext.Create(EngramBackend.IlgpuCpu);

    [OneTimeTearDown]
    public void Close() => _ctx.Dispose();

    [Test]
    public void DenseDecode() =>
        AttentionScenarios.AppendAndDecode<float>(_ctx,
            new KvCacheConfig { Layers = 2, KvHeads = 2, HeadDim = 5, Capacity = 32 }, 4, [1, 3, 2]);

    [Test]
    public void StreamingDecodeWrapsTheRing() =>
        AttentionScenarios.AppendAndDecode<float>(_ctx,
            new KvCacheConfig
            {
                KvHeads = 2, HeadDim = 4, SinkTokens = 2, Window = 3, Capacity = 32,
                Policy = [KvHeadPolicy.Streaming, KvHeadPolicy.Retrieval],
            }, 2, [1, 4, 1, 5, 2]);

    [Test]
    public void Bf16Storage() =>
        AttentionScenarios.AppendAndDecode<BFloat16>(_ctx,
            new KvCacheConfig { DType = EngramDType.BF16, KvHeads = 1, HeadDim = 8, SinkTokens = 1, Window = 2, Policy = [KvHeadPolicy.Streaming] },
            3, [2, 3]);

    [Test]
    public void ByteCountsAsLibengramAllocates() => AttentionScenarios.StreamingBytesStopGrowing(_ctx, EngramDType.F16);

    [Test]
    public void AppendPastCapacityFailsAndKeepsTheCache() => AttentionScenarios.AppendPastCapacityFailsAndKeepsTheCache(_ctx);

    [Test]
    public void PolicyChangesOnlyOnAnEmptyCache() => AttentionScenarios.PolicyChangesOnlyOnAnEmptyCache(_ctx);

    [Test]
    public void PrefillHasNoIlgpuPort()
    {
        using var cache = KvCache.Create(_ctx, new KvCacheConfig { HeadDim = 4 });
        Assert.That(cache.Backend, Is.EqualTo(EngramBackend.IlgpuCpu));
        var e = Assert.Throws<EngramException>(() =>
            Attention.Prefill<float>(cache, 0, 1, 1, new float[4], new float[4], new float[4], new float[4]))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.Unsupported));
        Assert.That(cache.Length(0), Is.Zero, "nothing appended");
    }

    [Test]
    public void DecodeOfAnEmptyLayerAndBadHeadsAreRejected()
    {
        using var cache = KvCache.Create(_ctx, new KvCacheConfig { KvHeads = 2, HeadDim = 4 });
        Assert.Throws<EngramArgumentException>(() => Attention.Decode<float>(cache, 0, 2, new float[8], new float[8]), "empty");
        cache.Append<float>(0, 1, new float[8], new float[8]);
        var e = Assert.Throws<EngramArgumentException>(() => Attention.Decode<float>(cache, 0, 3, new float[12], new float[12]))!;
        Assert.That(e.Message, Does.Contain("q_heads"));
        Assert.Throws<EngramArgumentException>(() => KvCache.Create(_ctx, new KvCacheConfig { HeadDim = 0 }));
    }

    [Test]
    public void AgreesWithLibengramOnOneDecode()
    {
        using var native = EngramContext.Create(EngramBackend.NativeCpu);
        var config = new KvCacheConfig { KvHeads = 2, HeadDim = 6, SinkTokens = 1, Window = 2, Policy = [KvHeadPolicy.Streaming, KvHeadPolicy.Retrieval] };
        using var a = KvCache.Create(_ctx, config);
        using var b = KvCache.Create(native, config);
        var rng = new Random(3);
        var k = TestSupport.Uniform(rng, 2 * 6 * 6);
        var v = TestSupport.Uniform(rng, 2 * 6 * 6);
        a.Append<float>(0, 6, k, v);
        b.Append<float>(0, 6, k, v);
        var q = TestSupport.Uniform(rng, 4 * 6);
        var oa = new float[24];
        var ob = new float[24];
        Attention.Decode<float>(a, 0, 4, q, oa);
        Attention.Decode<float>(b, 0, 4, q, ob);
        TestSupport.AssertClose(oa, ob.Select(x => (double)x).ToArray(), 1e-5, 1e-5, "out");
        Assert.That(_ctx.LastOpStats.Counter("tokens_attended"), Is.EqualTo(native.LastOpStats.Counter("tokens_attended")));
        Assert.That(_ctx.LastOpStats.Counter("kv_bytes_read"), Is.EqualTo(native.LastOpStats.Counter("kv_bytes_read")));
    }
}
