using Engram.Onnx.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Engram.Onnx.Backbone;

/// <summary>
/// A frozen ONNX text encoder run one segment at a time (batch 1) through ONNX Runtime with
/// IOBinding. Each sequence length gets preallocated, pinned input and output buffers bound once
/// (<see cref="MaxCachedLengths"/> lengths are kept); <see cref="Run"/> copies the token ids into
/// the bound input and runs in place, so repeated calls with a cached length allocate nothing,
/// managed or native (checked by a test with GC.GetAllocatedBytesForCurrentThread).
/// </summary>
/// <remarks>
/// The first call with a new length runs once without binding to learn the outputs' shapes (an
/// exposed intermediate tensor may have no declared shape), then binds buffers of exactly those
/// shapes. Outputs are the ones named in <see cref="BackboneOptions.Outputs"/>; to read an
/// intermediate tensor, expose it first with <see cref="OnnxGraph.ExposeOutputs"/>.
/// Not thread-safe: one backbone per thread.
/// </remarks>
public sealed class OnnxBackbone : IDisposable
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly ModelInputs inputs;
    private readonly Dictionary<int, LengthBinding> bindings = new();
    private readonly int maxCached;
    private LengthBinding? last;
    private long clock;
    private bool disposed;

    /// <summary>The bound outputs, in order.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>The execution provider the session runs on.</summary>
    public ExecutionProviderKind ExecutionProvider { get; }

    /// <summary>Why the provider differs from the one asked for (e.g. CUDA requested on the CPU
    /// package), or a description of it; empty for the default CPU provider.</summary>
    public string ExecutionProviderMessage { get; }

    /// <summary>How many sequence lengths keep preallocated bindings.</summary>
    public int MaxCachedLengths => maxCached;

    private OnnxBackbone(byte[] model, string source, BackboneOptions? options)
    {
        options ??= new BackboneOptions();
        if (options.MaxCachedLengths < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxCachedLengths, "MaxCachedLengths must be at least 1");
        if (options.IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.IntraOpThreads, "IntraOpThreads must be 0 (default) or more");
        maxCached = options.MaxCachedLengths;

        using var sessionOptions = new SessionOptions();
        if (options.IntraOpThreads > 0) sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
        (ExecutionProvider, ExecutionProviderMessage) = ExecutionProviders.Configure(sessionOptions, options);
        try
        {
            session = new InferenceSession(model, sessionOptions);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"ONNX Runtime cannot load the model {source}: {e.Message}", e);
        }
        try
        {
            inputs = ModelInputs.Resolve(session, options);
            OutputNames = ResolveOutputs(session, options);
        }
        catch
        {
            session.Dispose();
            runOptions.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a model ONNX Runtime can load.</exception>
    /// <exception cref="ArgumentException">Inputs or outputs do not match <paramref name="options"/>.</exception>
    public static OnnxBackbone Load(string path, BackboneOptions? options = null) =>
        new(OnnxGraph.ReadModelFile(path), $"'{path}'", options);

    /// <summary>Loads a model from its serialized bytes.</summary>
    public static OnnxBackbone Load(byte[] model, BackboneOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Length == 0) throw new InvalidDataException("ONNX Runtime cannot load the model (bytes): the buffer is empty");
        return new(model, $"({model.Length} bytes)", options);
    }

    /// <summary>
    /// Runs one segment (batch 1) of <paramref name="tokenIds"/>. Afterwards <see cref="Output"/>
    /// and <see cref="OutputShape"/> give each bound output; they stay valid until the next call.
    /// </summary>
    public void Run(ReadOnlySpan<int> tokenIds)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (tokenIds.IsEmpty) throw new ArgumentException("tokenIds is empty: a segment needs at least one token", nameof(tokenIds));
        if (!bindings.TryGetValue(tokenIds.Length, out var binding))
            binding = AddBinding(tokenIds);
        binding.LastUse = ++clock;
        binding.SetIds(tokenIds);
        session.RunWithBinding(runOptions, binding.Binding);
        last = binding;
    }

    /// <summary>Output <paramref name="index"/> of the last <see cref="Run"/> (row-major, float32).</summary>
    public ReadOnlySpan<float> Output(int index = 0) => LastRun().Output(index);

    /// <summary>Shape of output <paramref name="index"/> of the last <see cref="Run"/>.</summary>
    public ReadOnlySpan<long> OutputShape(int index = 0) => LastRun().OutputShape(index);

    /// <summary>Bytes held by preallocated output buffers over all cached lengths.</summary>
    public long BoundOutputBytes => bindings.Values.Sum(b => b.OutputBytes);

    private LengthBinding LastRun()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return last ?? throw new InvalidOperationException("no Run yet");
    }

    private LengthBinding AddBinding(ReadOnlySpan<int> tokenIds)
    {
        var shapes = ProbeShapes(tokenIds);
        if (bindings.Count >= maxCached)
        {
            var oldest = bindings.Values.MinBy(b => b.LastUse)!;
            bindings.Remove(oldest.Length);
            if (ReferenceEquals(last, oldest)) last = null;
            oldest.Dispose();
        }
        var binding = new LengthBinding(session, inputs, OutputNames, shapes, tokenIds.Length);
        bindings.Add(tokenIds.Length, binding);
        return binding;
    }

    // One unbound run to learn each output's shape and element type for this length.
    private List<long[]> ProbeShapes(ReadOnlySpan<int> tokenIds)
    {
        var values = new List<OrtValue>();
        try
        {
            long[] shape = { 1, tokenIds.Length };
            foreach (var input in inputs.All)
            {
                long fill = input.Role == InputRole.AttentionMask ? 1 : 0;
                if (input.IsInt64)
                {
                    var a = new long[tokenIds.Length];
                    for (int i = 0; i < a.Length; i++) a[i] = input.Role == InputRole.InputIds ? tokenIds[i] : fill;
                    values.Add(OrtValue.CreateTensorValueFromMemory(a, shape));
                }
                else
                {
                    var a = new int[tokenIds.Length];
                    for (int i = 0; i < a.Length; i++) a[i] = input.Role == InputRole.InputIds ? tokenIds[i] : (int)fill;
                    values.Add(OrtValue.CreateTensorValueFromMemory(a, shape));
                }
            }
            using var results = session.Run(runOptions, inputs.All.Select(i => i.Name).ToArray(), values, OutputNames.ToArray());
            var shapes = new List<long[]>();
            for (int i = 0; i < OutputNames.Count; i++)
            {
                var info = results[i].GetTensorTypeAndShape();
                if (info.ElementDataType != TensorElementType.Float)
                    throw new ArgumentException($"model output '{OutputNames[i]}' is {info.ElementDataType}; Engram reads float32 outputs");
                shapes.Add(info.Shape);
            }
            return shapes;
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidOperationException($"ONNX Runtime failed on a segment of {tokenIds.Length} tokens: {e.Message}", e);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private static List<string> ResolveOutputs(InferenceSession session, BackboneOptions options)
    {
        var meta = session.OutputMetadata;
        var available = string.Join(", ", meta.Keys);
        if (options.Outputs is null)
            return [meta.ContainsKey("last_hidden_state") ? "last_hidden_state" : meta.Keys.First()];
        if (options.Outputs.Count == 0) throw new ArgumentException("BackboneOptions.Outputs is empty", nameof(options));
        foreach (var name in options.Outputs)
        {
            if (!meta.TryGetValue(name, out var node))
                throw new ArgumentException(
                    $"the model has no output '{name}' (its outputs: {available}); to read an intermediate tensor, " +
                    "expose it first with OnnxGraph.ExposeOutputs", nameof(options));
            if (node.IsTensor && node.ElementDataType != TensorElementType.Float)
                throw new ArgumentException($"model output '{name}' is {node.ElementDataType}; Engram reads float32 outputs", nameof(options));
        }
        return options.Outputs.ToList();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var b in bindings.Values) b.Dispose();
        bindings.Clear();
        session.Dispose();
        runOptions.Dispose();
    }
}
