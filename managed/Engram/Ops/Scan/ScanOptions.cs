using Engram.Native;

namespace Engram.Ops;

/// <summary>The decay gate of a linear scan (<c>engram_scan_gate</c>).</summary>
public enum ScanGate
{
    /// <summary>Plain causal linear attention: S_t = S_{t-1} + k_t v_tᵀ (no g).</summary>
    None = 0,
    /// <summary>A log-decay per head and token: S_t = exp(g_t) S_{t-1} + k_t v_tᵀ, g [B, T, H].</summary>
    Scalar = 1,
    /// <summary>A log-decay per key channel: S_t = diag(exp(gk_t)) S_{t-1} + k_t v_tᵀ, gk [B, T, H, K].</summary>
    Vector = 2,
}

/// <summary>
/// Options of a scan call (<c>engram_scan_options</c>). Defaults: chunk size 64, scale 1/√K. The output
/// dtype is the element type of the output span. Values are checked by libengram when an op runs.
/// </summary>
public sealed record ScanOptions
{
    /// <summary>Default tokens per chunk (ENGRAM_SCAN_DEFAULT_CHUNK).</summary>
    public const int DefaultChunkSize = 64;

    /// <summary>Largest chunk size (ENGRAM_SCAN_MAX_CHUNK).</summary>
    public const int MaxChunkSize = 256;

    /// <summary>The defaults.</summary>
    public static ScanOptions Default { get; } = new();

    /// <summary>Tokens per chunk of the chunked forward, in [1, 256]; 0 = the default (64). A tuning knob: the result does not depend on it beyond fp32 rounding.</summary>
    public int ChunkSize { get; init; }

    /// <summary>Multiplies q; 0 = 1/√K.</summary>
    public float Scale { get; init; }

    /// <summary>The scale actually used for key dim <paramref name="kDim"/>.</summary>
    public float ResolvedScale(long kDim) => Scale != 0 ? Scale : (float)(1.0 / Math.Sqrt(kDim));

    /// <summary>The chunk size actually used.</summary>
    public int ResolvedChunkSize => ChunkSize != 0 ? ChunkSize : DefaultChunkSize;

    internal EngramScanOptions ToNative(EngramDType outputDType) => new()
    {
        struct_size = (uint)System.Runtime.CompilerServices.Unsafe.SizeOf<EngramScanOptions>(),
        chunk_size = ChunkSize,
        scale = Scale,
        output_dtype = (int)outputDType,
    };
}
