using System.Runtime.InteropServices;

namespace Engram.Native;

// Packed 2-bit weights (engram_qmatmul.h). Tensor pointers are host pointers on a CPU context and
// device pointers on a CUDA context.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qweight_init(EngramQWeight* w);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qmatmul_code_words(long nOut, long k, int layout, out ulong words);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qmatmul(EngramContextHandle ctx, EngramQWeight* w, long m,
        EngramDType xDType, void* x, EngramDType yDType, void* y);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qmatmul_quantize_rtn(EngramContextHandle ctx, long nOut, long k,
        EngramDType wDType, void* w, int groupSize, EngramDType scaleDType, uint* codes, ulong codeWords,
        void* scales, void* zeros);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qmatmul_quantize_refine(EngramContextHandle ctx, long nOut, long k,
        EngramDType wDType, void* w, int groupSize, EngramDType scaleDType, float* h, int iterations, uint* codes,
        ulong codeWords, void* scales, void* zeros);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qmatmul_pack(EngramContextHandle ctx, long nOut, long k, byte* codes,
        uint* words, ulong codeWords);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qmatmul_unpack(EngramContextHandle ctx, long nOut, long k, uint* words,
        ulong codeWords, byte* codes);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qmatmul_prepare(EngramContextHandle ctx, long nOut, long k, uint* plain,
        ulong plainWords, uint* prepared, ulong preparedWords);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_qmatmul_unprepare(EngramContextHandle ctx, long nOut, long k,
        uint* prepared, ulong preparedWords, uint* plain, ulong plainWords);
}
