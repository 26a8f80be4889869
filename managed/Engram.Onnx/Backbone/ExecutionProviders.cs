using Microsoft.ML.OnnxRuntime;

namespace Engram.Onnx.Backbone;

/// <summary>Appends the requested execution provider to session options, falling back to the CPU
/// with a message that says why when CUDA cannot be had.</summary>
internal static class ExecutionProviders
{
    /// <returns>The provider the session will use, and a message (empty when it is the one asked
    /// for without remark).</returns>
    public static (ExecutionProviderKind Used, string Message) Configure(SessionOptions session, BackboneOptions options)
    {
        if (options.ExecutionProvider == ExecutionProviderKind.Cpu) return (ExecutionProviderKind.Cpu, "");
        string why;
        try
        {
            session.AppendExecutionProvider_CUDA(options.CudaDeviceId);
            return (ExecutionProviderKind.Cuda, $"CUDA execution provider, device {options.CudaDeviceId}");
        }
        catch (EntryPointNotFoundException)
        {
            // The CPU package (Microsoft.ML.OnnxRuntime) exports no CUDA provider entry point at all.
            why = "this ONNX Runtime build has no CUDA execution provider (Engram.Onnx ships the CPU package " +
                  "Microsoft.ML.OnnxRuntime; reference Microsoft.ML.OnnxRuntime.Gpu, with CUDA 12 and cuDNN 9, for CUDA)";
        }
        catch (OnnxRuntimeException e)
        {
            why = $"the CUDA execution provider could not start on device {options.CudaDeviceId}: {e.Message}";
        }
        if (!options.AllowCpuFallback)
            throw new InvalidOperationException($"CUDA execution provider requested and CPU fallback disabled: {why}");
        return (ExecutionProviderKind.Cpu, $"CUDA requested, running on the CPU instead: {why}");
    }
}
