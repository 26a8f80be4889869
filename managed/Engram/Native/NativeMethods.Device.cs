using System.Runtime.InteropServices;

namespace Engram.Native;

// Device memory, copies and event timing: CUDA contexts only (a CPU context gets
// ENGRAM_ERR_WRONG_BACKEND). Pointers are device pointers, passed as nint.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_device_alloc(EngramContextHandle ctx, ulong bytes, out nint ptr);

    // Called by DeviceMemoryHandle.ReleaseNative only, with the raw context pointer (the handle being
    // released holds the context's last reference, if its owner has disposed it).
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_device_free(nint ctx, nint ptr);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_copy_to_device(EngramContextHandle ctx, nint dst, void* src, ulong bytes);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_copy_to_host(EngramContextHandle ctx, void* dst, nint src, ulong bytes);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_device_memset(EngramContextHandle ctx, nint dst, int value, ulong bytes);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_synchronize(EngramContextHandle ctx);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_event_create(EngramContextHandle ctx, out EngramEventHandle ev);

    // Called by EngramEventHandle.ReleaseHandle only.
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_event_destroy(nint ev);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_event_record(EngramContextHandle ctx, EngramEventHandle ev);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_event_elapsed_ms(EngramEventHandle start, EngramEventHandle end, out float ms);
}
