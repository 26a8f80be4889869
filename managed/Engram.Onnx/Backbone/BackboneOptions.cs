namespace Engram.Onnx.Backbone;

/// <summary>Which ONNX Runtime execution provider a backbone asks for.</summary>
public enum ExecutionProviderKind
{
    /// <summary>ONNX Runtime's CPU execution provider (the default; always available).</summary>
    Cpu,

    /// <summary>The CUDA execution provider: needs the Microsoft.ML.OnnxRuntime.Gpu package, a GPU,
    /// CUDA 12 and cuDNN 9. When any is missing the backbone says why and runs on the CPU, unless
    /// <see cref="BackboneOptions.AllowCpuFallback"/> is false.</summary>
    Cuda,
}

/// <summary>How an <see cref="OnnxBackbone"/> is set up. Defaults fit BERT-family encoders exported
/// by Hugging Face (inputs <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c>; output
/// <c>last_hidden_state</c>).</summary>
public sealed class BackboneOptions
{
    /// <summary>Execution provider to ask for (default CPU).</summary>
    public ExecutionProviderKind ExecutionProvider { get; init; } = ExecutionProviderKind.Cpu;

    /// <summary>CUDA device ordinal when <see cref="ExecutionProvider"/> is CUDA.</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>When CUDA is asked for but unavailable: true (default) runs on the CPU and says so
    /// in <see cref="OnnxBackbone.ExecutionProviderMessage"/>; false throws.</summary>
    public bool AllowCpuFallback { get; init; } = true;

    /// <summary>Model input taking the token ids (required; int64 or int32).</summary>
    public string InputIdsName { get; init; } = "input_ids";

    /// <summary>Model input taking the attention mask (all ones: one segment, no padding), used
    /// when the model has it.</summary>
    public string AttentionMaskName { get; init; } = "attention_mask";

    /// <summary>Model input taking token type ids (all zeros), used when the model has it.</summary>
    public string TokenTypeIdsName { get; init; } = "token_type_ids";

    /// <summary>Outputs to bind, in order; null: <c>last_hidden_state</c> when the model has it,
    /// else its first output. Every output must be a float32 tensor whose first dimension is the
    /// batch (1).</summary>
    public IReadOnlyList<string>? Outputs { get; init; }

    /// <summary>ONNX Runtime intra-op threads (0: ONNX Runtime's default, one per core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>How many sequence lengths keep their preallocated bindings (least recently used
    /// evicted). A call with a cached length allocates nothing.</summary>
    public int MaxCachedLengths { get; init; } = 8;
}
