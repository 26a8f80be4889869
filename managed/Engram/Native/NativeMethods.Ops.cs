namespace Engram.Native;

// The op registry of engram.h: names, the list, and the per-op capability query that
// EngramContext uses to pick a backend for each op.
internal static unsafe partial class NativeMethods
{
    [System.Runtime.InteropServices.LibraryImport(Library)]
    internal static partial byte* engram_op_name(int op);

    [System.Runtime.InteropServices.LibraryImport(Library)]
    internal static partial byte* engram_op_family(int op);

    [System.Runtime.InteropServices.LibraryImport(Library)]
    internal static partial EngramStatus engram_op_list(int* ops, int capacity, out int count);

    [System.Runtime.InteropServices.LibraryImport(Library)]
    internal static partial EngramStatus engram_op_supported(NativeBackendKind backend, int op, EngramDType dtype);

    [System.Runtime.InteropServices.LibraryImport(Library)]
    internal static partial int engram_dtype_bits(EngramDType dtype);
}
