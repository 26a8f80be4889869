using System.Runtime.InteropServices;

namespace Engram.Native;

internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_create(NativeBackendKind backend, int device, out EngramContextHandle ctx);

    // Called by EngramContextHandle.ReleaseHandle only: takes the raw pointer.
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_destroy(nint ctx);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_get_backend(EngramContextHandle ctx, out NativeBackendKind backend);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_set_threads(EngramContextHandle ctx, int threads);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_get_threads(EngramContextHandle ctx, out int threads);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_set_stream(EngramContextHandle ctx, nint stream);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_get_stream(EngramContextHandle ctx, out nint stream);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_memory_stats_init(EngramMemoryStats* stats);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_get_memory_stats(EngramContextHandle ctx, EngramMemoryStats* stats);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_reset_peak_memory(EngramContextHandle ctx);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_op_stats_init(EngramOpStats* stats);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_context_get_op_stats(EngramContextHandle ctx, EngramOpStats* stats);
}
