using System.Runtime.InteropServices;

namespace Engram.Native;

// Recurrent scans (engram_scan.h). Tensor pointers are host pointers on a CPU context and
// device pointers on a CUDA context; NULL where the header allows it.
internal static unsafe partial class NativeMethods
{
    /// <summary>ENGRAM_SCAN_OUTPUT_DTYPE_INPUT: opts->output_dtype meaning "the inputs' dtype".</summary>
    internal const int ScanOutputDTypeInput = -1;

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_scan_options_init(EngramScanOptions* opts);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_scan_inputs_init(EngramScanInputs* inputs);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_scan_grads_init(EngramScanGrads* grads);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_scan_linear_forward(EngramContextHandle ctx, EngramScanInputs* inputs,
        EngramScanOptions* opts, void* o, float* finalState);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_scan_linear_decode(EngramContextHandle ctx, EngramScanInputs* inputs,
        EngramScanOptions* opts, void* o, float* stateOut);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_scan_linear_backward(EngramContextHandle ctx, EngramScanInputs* inputs,
        EngramScanOptions* opts, void* gradO, float* gradFinalState, EngramScanGrads* grads);
}
