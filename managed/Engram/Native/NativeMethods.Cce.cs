using System.Runtime.InteropServices;

namespace Engram.Native;

// Fused linear cross-entropy. Tensor pointers are host pointers on a CPU context and
// device pointers on a CUDA context; NULL (a null void*) where engram.h allows it.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cce_options_init(EngramCceOptions* opts);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cce_inputs_init(EngramCceInputs* inputs);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cce_grads_init(EngramCceGrads* grads);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cce_forward(EngramContextHandle ctx, EngramCceInputs* inputs,
        EngramCceOptions* opts, float* loss, float* lse);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cce_backward(EngramContextHandle ctx, EngramCceInputs* inputs,
        EngramCceOptions* opts, float* lse, float* gradLoss, EngramCceGrads* grads);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cce_forward_backward(EngramContextHandle ctx, EngramCceInputs* inputs,
        EngramCceOptions* opts, float* gradLoss, float* loss, float* lse, EngramCceGrads* grads);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cce_shard_forward(EngramContextHandle ctx, EngramCceInputs* shard,
        EngramCceOptions* opts, float* shardLse, float* targetLogit, float* logitSum);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cce_shard_combine(EngramContextHandle ctx, long n, long numShards,
        long vocabTotal, float* shardLse, float* targetLogit, float* logitSum, void* targets, EngramDType targetDType,
        EngramCceOptions* opts, float* loss, float* lse);
}
