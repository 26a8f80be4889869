using System.Runtime.InteropServices;
using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// Scenarios of the attention family, run on a given backend against <see cref="AttentionModel"/>:
/// appends in uneven chunks, a decode after each, streaming heads checked as dense attention restricted
/// to sink + window (ring wrap-around several times). Error model: scores in fp32 over D terms and a
/// softmax-weighted sum over S tokens, |error| ≤ 1e-5 + 64·(D + S)·2⁻²⁴·Σ p|v| (plus half an ulp of a
/// 16-bit output).
/// </summary>
internal static class AttentionScenarios
{
    public static void AssertOut(ReadOnlySpan<float> actual, double[] expected, double[] magnitude, int tokens, int d,
        EngramDType outType, string what)
    {
        double fp32 = 64.0 * (d + tokens) * Math.Pow(2, -24);
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = 1e-5 + fp32 * magnitude[i] + ScanTests.OutputUlp(outType) * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}[{i}] = {actual[i]}, expected {expected[i]} ± {tol:E2}");
        }
    }

    /// <summary>
    /// Appends <paramref name="steps"/> chunks to every layer (layer-specific data), decoding after each
    /// append with q of type <typeparamref name="T"/>, and compares with the model.
    /// </summary>
    public static void AppendAndDecode<T>(EngramContext ctx, KvCacheConfig config, int qHeads, int[] steps, int seed = 1)
        where T : unmanaged
    {
        var dtype = DTypes.OfFloat<T>("T");
        using var cache = KvCache.Create(ctx, config);
        int d = config.HeadDim;
        var rng = new Random(seed);
        var models = Enumerable.Range(0, config.Layers).Select(_ => new AttentionModel(config.KvHeads, d, config.DType)).ToArray();
        double scale = AttentionOptions.Default.ResolvedScale(d);
        foreach (int tokens in steps)
        {
            for (int layer = 0; layer < config.Layers; layer++)
            {
                var k = TestSupport.Uniform(rng, config.KvHeads * tokens * d, 1.5);
                var v = TestSupport.Uniform(rng, config.KvHeads * tokens * d);
                cache.Append<float>(layer, tokens, k, v);
                models[layer].Append(k, v, tokens);
                Assert.That(cache.Length(layer), Is.EqualTo(models[layer].Length), "length");

                var qf = TestSupport.Uniform(rng, qHeads * d, 1.5);
                var q = new T[qf.Length];
                DTypes.FromSingle(qf, dtype, MemoryMarshal.AsBytes(q.AsSpan()));
                DTypes.ToSingle(MemoryMarshal.AsBytes(q.AsSpan()), dtype, qf); // the model reads the rounded q
                var output = new T[qHeads * d];
                Attention.Decode<T>(cache, layer, qHeads, q, output);
                var widened = new float[output.Length];
                DTypes.ToSingle(MemoryMarshal.AsBytes(output.AsSpan()), dtype, widened);
                int l = layer;
                var (e, mag) = models[layer].Attend(qf, qHeads, models[layer].Length - 1, h => config.PolicyOf(l, h),
                    config.SinkTokens, config.Window, scale);
                AssertOut(widened, e, mag, models[layer].Length, d, dtype, $"layer {layer} at length {models[layer].Length}: out");
            }
        }
        var stats = ctx.LastOpStats;
        Assert.That(stats.Op, Is.EqualTo(EngramOp.AttentionDecode));
        Assert.That(stats.Backend, Is.EqualTo(cache.Backend));
        Assert.That(stats.Counter("tokens_attended"), Is.GreaterThan(0UL));
    }

    /// <summary>Streaming-head byte counts: exactly (sink + window)·D·2·size per streaming head once full, and constant after.</summary>
    public static void StreamingBytesStopGrowing(EngramContext ctx, EngramDType dtype)
    {
        var config = new KvCacheConfig
        {
            DType = dtype, Layers = 2, KvHeads = 3, HeadDim = 8, SinkTokens = 2, Window = 5, Capacity = 64,
            Policy = [KvHeadPolicy.Streaming, KvHeadPolicy.Retrieval, KvHeadPolicy.Streaming,
                      KvHeadPolicy.Streaming, KvHeadPolicy.Streaming, KvHeadPolicy.Streaming],
        };
        using var cache = KvCache.Create(ctx, config);
        ulong perToken = 2UL * 8 * (ulong)DTypes.Size(dtype);
        // libengram allocates each head's keys and values as one 64-byte aligned buffer each.
        ulong Full(int tokens) => 2 * Round64((ulong)tokens * 8 * (ulong)DTypes.Size(dtype));
        var k = new float[3 * 8];
        for (int t = 1; t <= 20; t++)
        {
            cache.Append<float>(0, 1, k, k);
            cache.Append<float>(1, 1, k, k);
            var i0 = cache.Info(0);
            var i1 = cache.Info(1);
            long kept = Math.Min(t, 2) + Math.Min(Math.Max(t - 2, 0), 5);
            Assert.That(i0.Length, Is.EqualTo(t));
            Assert.That(i0.RetrievalTokens, Is.EqualTo(t));
            Assert.That(i0.StreamingTokens, Is.EqualTo(kept));
            Assert.That((i0.RetrievalHeads, i0.StreamingHeads), Is.EqualTo((1, 2)));
            Assert.That((i1.RetrievalHeads, i1.StreamingHeads), Is.EqualTo((0, 3)));
            Assert.That(i0.TotalBytes, Is.EqualTo(i0.LayerBytes + i1.LayerBytes), "total = sum of layers");
            Assert.That(i1.LayerStreamingBytes, Is.EqualTo(i1.LayerBytes), "layer 1 is all streaming");
            Assert.That(i0.LayerStreamingBytes, Is.GreaterThanOrEqualTo(2 * (ulong)kept * perToken), "holds what it keeps");
            Assert.That(i0.LayerBytes - i0.LayerStreamingBytes, Is.GreaterThanOrEqualTo((ulong)t * perToken), "retrieval head holds every token");
            if (t >= 7)
            {
                Assert.That(i1.LayerBytes, Is.EqualTo(3 * Full(7)), $"streaming bytes at length {t}: exactly sink + window");
                Assert.That(i0.LayerStreamingBytes, Is.EqualTo(2 * Full(7)));
            }
        }
        cache.Reset();
        var r = cache.Info(0);
        Assert.That((r.Length, r.TotalBytes, r.LayerBytes), Is.EqualTo((0L, 0UL, 0UL)), "reset releases storage");
    }

    public static ulong Round64(ulong bytes) => (bytes + 63) & ~63UL;

    public static void AppendPastCapacityFailsAndKeepsTheCache(EngramContext ctx)
    {
        using var cache = KvCache.Create(ctx, new KvCacheConfig { KvHeads = 1, HeadDim = 4, Capacity = 4 });
        cache.Append<float>(0, 3, new float[12], new float[12]);
        var before = cache.Info(0);
        var e = Assert.Throws<EngramArgumentException>(() => cache.Append<float>(0, 2, new float[8], new float[8]))!;
        Assert.That(e.Message, Does.Contain("capacity"));
        Assert.That(cache.Info(0), Is.EqualTo(before));
    }

    public static void PolicyChangesOnlyOnAnEmptyCache(EngramContext ctx)
    {
        using var cache = KvCache.Create(ctx, new KvCacheConfig { KvHeads = 2, HeadDim = 4, Window = 2, SinkTokens = 1 });
        cache.Append<float>(0, 1, new float[8], new float[8]);
        Assert.Throws<EngramArgumentException>(() => cache.SetPolicy([KvHeadPolicy.Streaming, KvHeadPolicy.Streaming]));
        Assert.That(cache.Info(0).StreamingHeads, Is.Zero, "policy kept");
        cache.Reset();
        cache.SetPolicy([KvHeadPolicy.Streaming, KvHeadPolicy.Retrieval]);
        Assert.That(cache.Config.PolicyOf(0, 0), Is.EqualTo(KvHeadPolicy.Streaming));
        Assert.That(cache.Info(0).StreamingHeads, Is.EqualTo(1));
        Assert.Throws<EngramArgumentException>(() => cache.SetPolicy([KvHeadPolicy.Streaming]), "wrong count");
    }
}

/// <summary>The attention family through the .NET layer on libengram's CPU backend.</summary>
public sealed class AttentionTests
{
    private EngramContext _ctx = null!;

    [OneTimeSetUp]
    public void Open() => _ctx = EngramContext.Create(EngramBackend.NativeCpu);

    [OneTimeTearDown]
    public void Close() => _ctx.Dispose();

    private static KvHeadPolicy[] Mixed(int n) =>
        Enumerable.Range(0, n).Select(i => i % 2 == 0 ? KvHeadPolicy.Streaming : KvHeadPolicy.Retrieval).ToArray();

    [TestCase(1, 1, 5)]   // H_q / H_kv = 1, odd D
    [TestCase(2, 8, 16)]  // ratio 4
    [TestCase(1, 8, 3)]   // ratio 8
    public void RetrievalDecodeMatchesDenseAttention(int kvHeads, int qHeads, int d) =>
        AttentionScenarios.AppendAndDecode<float>(_ctx,
            new KvCacheConfig { Layers = 2, KvHeads = kvHeads, HeadDim = d, Capacity = 64 }, qHeads, [1, 3, 2, 1, 7]);

    [TestCase(2, 3)]   // wraps the ring several times
    [TestCase(0, 1)]   // no sinks, window 1
    [TestCase(3, 40)]  // window larger than the sequence
    public void StreamingDecodeIsDenseRestrictedToSinkAndWindow(int sink, int window) =>
        AttentionScenarios.AppendAndDecode<float>(_ctx,
            new KvCacheConfig { Layers = 2, KvHeads = 2, HeadDim = 6, SinkTokens = sink, Window = window, Capacity = 64, Policy = Mixed(4) },
            4, [1, 1, 4, 1, 1, 5, 1, 2, 1]);

    [TestCase(EngramDType.F16)]
    [TestCase(EngramDType.BF16)]
    public void SixteenBitStorageAndQueries(EngramDType dtype)
    {
        var config = new KvCacheConfig { DType = dtype, KvHeads = 2, HeadDim = 8, SinkTokens = 1, Window = 3, Policy = Mixed(2) };
        if (dtype == EngramDType.F16) AttentionScenarios.AppendAndDecode<Half>(_ctx, config, 4, [2, 1, 3, 1]);
        else AttentionScenarios.AppendAndDecode<BFloat16>(_ctx, config, 4, [2, 1, 3, 1]);
    }

    [Test]
    public void AppendInTheStorageTypeIsStoredAsIs()
    {
        var config = new KvCacheConfig { DType = EngramDType.BF16, KvHeads = 1, HeadDim = 4 };
        using var cache = KvCache.Create(_ctx, config);
        var rng = new Random(2);
        var k = TestSupport.Uniform(rng, 12).Select(BFloat16.FromSingle).ToArray();
        var v = TestSupport.Uniform(rng, 12).Select(BFloat16.FromSingle).ToArray();
        cache.Append<BFloat16>(0, 3, k, v);
        var model = new AttentionModel(1, 4, EngramDType.BF16);
        model.Append(k.Select(x => x.ToSingle()).ToArray(), v.Select(x => x.ToSingle()).ToArray(), 3);
        var q = TestSupport.Uniform(rng, 4);
        var output = new float[4];
        Attention.Decode<float>(cache, 0, 1, q, output);
        var (e, mag) = model.Attend(q, 1, 2, _ => KvHeadPolicy.Retrieval, 4, 1024, 0.5);
        AttentionScenarios.AssertOut(output, e, mag, 3, 4, EngramDType.F32, "out");
    }

    [Test]
    public void PrefillEqualsTheDenseCausalReference()
    {
        var config = new KvCacheConfig { KvHeads = 2, HeadDim = 5, SinkTokens = 1, Window = 2, Capacity = 32, Policy = Mixed(2) };
        using var cache = KvCache.Create(_ctx, config);
        var model = new AttentionModel(2, 5, EngramDType.F32);
        var rng = new Random(8);
        var k0 = TestSupport.Uniform(rng, 2 * 3 * 5);
        var v0 = TestSupport.Uniform(rng, 2 * 3 * 5);
        cache.Append<float>(0, 3, k0, v0);
        model.Append(k0, v0, 3);
        const int tokens = 5, qHeads = 4;
        var q = TestSupport.Uniform(rng, qHeads * tokens * 5, 1.5);
        var k = TestSupport.Uniform(rng, 2 * tokens * 5);
        var v = TestSupport.Uniform(rng, 2 * tokens * 5);
        var output = new float[qHeads * tokens * 5];
        var options = new AttentionOptions { Scale = 0.8f };
        Attention.Prefill<float>(cache, 0, qHeads, tokens, q, k, v, output, options);
        Assert.That(cache.Length(0), Is.EqualTo(3 + tokens));
        model.Append(k, v, tokens);
        for (int i = 0; i < tokens; i++)
        {
            // Query i is [qHeads, D] gathered from [qHeads, tokens, D].
            var qi = Enumerable.Range(0, qHeads).SelectMany(h => q.AsSpan((h * tokens + i) * 5, 5).ToArray()).ToArray();
            var oi = Enumerable.Range(0, qHeads).SelectMany(h => output.AsSpan((h * tokens + i) * 5, 5).ToArray()).ToArray();
            var (e, mag) = model.Attend(qi, qHeads, 3 + i, h => config.PolicyOf(0, h), 1, 2, 0.8);
            AttentionScenarios.AssertOut(oi, e, mag, 3 + i + 1, 5, EngramDType.F32, $"query {i}");
        }
        Assert.That(_ctx.LastOpStats.Op, Is.EqualTo(EngramOp.AttentionPrefill));
    }

    [TestCase(EngramDType.F32)]
    [TestCase(EngramDType.BF16)]
    public void StreamingBytesStopGrowing(EngramDType dtype) => AttentionScenarios.StreamingBytesStopGrowing(_ctx, dtype);

    [Test]
    public void RetrievalBytesAtCapacityAreExact()
    {
        using var cache = KvCache.Create(_ctx, new KvCacheConfig { KvHeads = 2, HeadDim = 3, Capacity = 5 });
        for (int t = 0; t < 5; t++) cache.Append<float>(0, 1, new float[6], new float[6]);
        // 2 heads · (k + v) · one 64-byte aligned buffer of 5 tokens · D · 4 bytes (60 → 64).
        Assert.That(cache.Info(0).LayerBytes, Is.EqualTo(2UL * 2 * AttentionScenarios.Round64(5 * 3 * 4)));
    }

    [Test]
    public void AppendPastCapacityFailsAndKeepsTheCache() => AttentionScenarios.AppendPastCapacityFailsAndKeepsTheCache(_ctx);

    [Test]
    public void PolicyChangesOnlyOnAnEmptyCache() => AttentionScenarios.PolicyChangesOnlyOnAnEmptyCache(_ctx);

    [Test]
    public void BadConfigIsRejectedNamingTheField()
    {
        var e = Assert.Throws<EngramArgumentException>(() => KvCache.Create(_ctx, new KvCacheConfig { HeadDim = 257 }))!;
        Assert.That(e.Message, Does.Contain("head_dim"));
    }

    [Test]
    public void QueryHeadsNotAMultipleOfKvHeadsIsRejected()
    {
        using var cache = KvCache.Create(_ctx, new KvCacheConfig { KvHeads = 2, HeadDim = 4 });
        cache.Append<float>(0, 1, new float[8], new float[8]);
        var e = Assert.Throws<EngramArgumentException>(() => Attention.Decode<float>(cache, 0, 3, new float[12], new float[12]))!;
        Assert.That(e.Message, Does.Contain("q_heads"));
    }

    [Test]
    public void CacheOutlivesADisposedContextAndRejectsUseAfterDispose()
    {
        var ctx = EngramContext.Create(EngramBackend.NativeCpu);
        var cache = KvCache.Create(ctx, new KvCacheConfig { HeadDim = 4 });
        cache.Append<float>(0, 1, new float[4], new float[4]);
        ctx.Dispose();
        cache.Dispose(); // the handle held the native context until here
        Assert.Throws<ObjectDisposedException>(() => cache.Info(0));
    }

    // --- every managed length check ---

    private static void ExpectLength(TestDelegate call, string name)
    {
        var e = Assert.Throws<ArgumentException>(call)!;
        Assert.That(e.ParamName, Is.EqualTo(name));
        Assert.That(e, Is.Not.InstanceOf<EngramArgumentException>());
    }

    private KvCache Small()
    {
        var cache = KvCache.Create(_ctx, new KvCacheConfig { KvHeads = 2, HeadDim = 3 });
        cache.Append<float>(0, 1, new float[6], new float[6]);
        return cache;
    }

    [Test]
    public void AppendShortK()
    {
        using var c = Small();
        ExpectLength(() => c.Append<float>(0, 2, new float[11], new float[12]), "k");
    }

    [Test]
    public void AppendShortV()
    {
        using var c = Small();
        ExpectLength(() => c.Append<float>(0, 2, new float[12], new float[11]), "v");
    }

    [Test]
    public void DecodeShortQ()
    {
        using var c = Small();
        ExpectLength(() => Attention.Decode<float>(c, 0, 4, new float[11], new float[12]), "q");
    }

    [Test]
    public void DecodeShortOutput()
    {
        using var c = Small();
        ExpectLength(() => Attention.Decode<float>(c, 0, 4, new float[12], new float[13]), "output");
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void PrefillShortSpan(int which)
    {
        using var c = Small();
        int[] len = [4 * 2 * 3, 2 * 2 * 3, 2 * 2 * 3, 4 * 2 * 3];
        len[which]--;
        ExpectLength(() => Attention.Prefill<float>(c, 0, 4, 2, new float[len[0]], new float[len[1]], new float[len[2]],
            new float[len[3]]), new[] { "q", "k", "v", "output" }[which]);
    }
}
