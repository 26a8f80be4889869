using Engram.Native;

namespace Engram.Ops;

/// <summary>What a KV head keeps (<c>engram_attention_head_policy</c>).</summary>
public enum KvHeadPolicy
{
    /// <summary>Every token (up to the capacity).</summary>
    Retrieval = 0,
    /// <summary>The first <see cref="KvCacheConfig.SinkTokens"/> tokens plus a ring of the last <see cref="KvCacheConfig.Window"/>.</summary>
    Streaming = 1,
}

/// <summary>
/// The configuration of a <see cref="KvCache"/> (<c>engram_attention_cache_config</c>): storage dtype
/// (F32, F16, BF16), layers, KV heads, head dim, the streaming heads' sinks and window, the most tokens a
/// layer with a retrieval head holds, and the policy of every (layer, KV head), layer-major (null = all
/// retrieval). Checked by libengram (or the ILGPU port) at create.
/// </summary>
public sealed record KvCacheConfig
{
    /// <summary>Storage dtype of keys and values.</summary>
    public EngramDType DType { get; init; } = EngramDType.F32;

    /// <summary>Layers, ≥ 1.</summary>
    public int Layers { get; init; } = 1;

    /// <summary>KV heads H_kv, ≥ 1.</summary>
    public int KvHeads { get; init; } = 1;

    /// <summary>Head dim D in [1, 256].</summary>
    public int HeadDim { get; init; } = 128;

    /// <summary>Attention-sink tokens of streaming heads, ≥ 0.</summary>
    public int SinkTokens { get; init; } = 4;

    /// <summary>Recent-token window of streaming heads, ≥ 1.</summary>
    public int Window { get; init; } = 1024;

    /// <summary>Most tokens per layer while the layer has a retrieval head, ≥ 1.</summary>
    public long Capacity { get; init; } = 4096;

    /// <summary>Policy per (layer, KV head), layer-major (Layers·KvHeads entries), or null for all retrieval.</summary>
    public IReadOnlyList<KvHeadPolicy>? Policy { get; init; }

    /// <summary>The policy of KV head <paramref name="head"/> of <paramref name="layer"/>.</summary>
    public KvHeadPolicy PolicyOf(int layer, int head) => Policy is null ? KvHeadPolicy.Retrieval : Policy[layer * KvHeads + head];

    internal unsafe EngramAttentionCacheConfig ToNative(int* policy) => new()
    {
        struct_size = (uint)sizeof(EngramAttentionCacheConfig),
        dtype = (int)DType,
        layers = Layers,
        kv_heads = KvHeads,
        head_dim = HeadDim,
        sink_tokens = SinkTokens,
        window = Window,
        capacity = Capacity,
        policy = policy,
    };
}

/// <summary>
/// What a cache holds (<c>engram_attention_cache_info</c>): the layer's length, the tokens each policy
/// keeps, its head counts, and the key + value bytes allocated for the layer, its streaming heads and the
/// whole cache.
/// </summary>
public readonly record struct KvCacheInfo(int Layer, long Length, long RetrievalTokens, long StreamingTokens,
    int RetrievalHeads, int StreamingHeads, ulong LayerBytes, ulong LayerStreamingBytes, ulong TotalBytes);

/// <summary>Options of an attention op (<c>engram_attention_options</c>): the score scale, 0 = 1/√D.</summary>
public sealed record AttentionOptions
{
    /// <summary>The defaults.</summary>
    public static AttentionOptions Default { get; } = new();

    /// <summary>Score scale; 0 = 1/√D; else finite and &gt; 0.</summary>
    public float Scale { get; init; }

    /// <summary>The scale actually used for head dim <paramref name="headDim"/>.</summary>
    public float ResolvedScale(int headDim) => Scale != 0 ? Scale : (float)(1.0 / Math.Sqrt(headDim));

    internal EngramAttentionOptions ToNative() => new()
    {
        struct_size = (uint)System.Runtime.CompilerServices.Unsafe.SizeOf<EngramAttentionOptions>(),
        scale = Scale,
    };
}
