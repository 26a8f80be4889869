using System.Runtime.InteropServices;

namespace Engram.Native;

// Long-context attention over a library-owned KV cache (engram_attention.h). CPU contexts only
// in phase 1; pointers are host pointers.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_cache_config_init(EngramAttentionCacheConfig* config);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_cache_info_init(EngramAttentionCacheInfo* info);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_options_init(EngramAttentionOptions* opts);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_cache_create(EngramContextHandle ctx,
        EngramAttentionCacheConfig* config, out nint cache);

    // Called by KvCacheHandle.ReleaseNative only (touches only the cache's own memory).
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_cache_destroy(nint cache);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_cache_reset(EngramContextHandle ctx, KvCacheHandle cache);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_cache_set_policy(EngramContextHandle ctx, KvCacheHandle cache,
        int* policy, long count);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_cache_get_info(EngramContextHandle ctx, KvCacheHandle cache,
        int layer, EngramAttentionCacheInfo* info);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_cache_append(EngramContextHandle ctx, KvCacheHandle cache,
        int layer, long tokens, EngramDType dtype, void* k, void* v);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_decode(EngramContextHandle ctx, KvCacheHandle cache,
        int layer, long qHeads, EngramDType dtype, void* q, void* output, EngramAttentionOptions* opts);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_attention_prefill(EngramContextHandle ctx, KvCacheHandle cache,
        int layer, long qHeads, long tokens, EngramDType dtype, void* q, void* k, void* v, void* output,
        EngramAttentionOptions* opts);
}
