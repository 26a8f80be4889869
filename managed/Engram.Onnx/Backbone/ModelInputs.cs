using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Engram.Onnx.Backbone;

internal enum InputRole { InputIds, AttentionMask, TokenTypeIds }

internal sealed record ModelInput(string Name, InputRole Role, bool IsInt64);

/// <summary>Maps a model's inputs to the roles a text encoder feeds (token ids, attention mask,
/// token types), checking names and element types against the session's metadata.</summary>
internal sealed class ModelInputs
{
    public IReadOnlyList<ModelInput> All { get; }

    private ModelInputs(IReadOnlyList<ModelInput> all) => All = all;

    public static ModelInputs Resolve(InferenceSession session, BackboneOptions options)
    {
        var meta = session.InputMetadata;
        var available = string.Join(", ", meta.Select(kv => $"{kv.Key} ({kv.Value.ElementDataType})"));
        if (!meta.ContainsKey(options.InputIdsName))
            throw new ArgumentException(
                $"the model has no input '{options.InputIdsName}' for the token ids (its inputs: {available}); " +
                "set BackboneOptions.InputIdsName", nameof(options));
        var roles = new Dictionary<string, InputRole>(StringComparer.Ordinal)
        {
            [options.InputIdsName] = InputRole.InputIds,
        };
        if (!string.IsNullOrEmpty(options.AttentionMaskName)) roles.TryAdd(options.AttentionMaskName, InputRole.AttentionMask);
        if (!string.IsNullOrEmpty(options.TokenTypeIdsName)) roles.TryAdd(options.TokenTypeIdsName, InputRole.TokenTypeIds);

        var result = new List<ModelInput>();
        foreach (var (name, node) in meta)
        {
            if (!roles.TryGetValue(name, out var role))
                throw new ArgumentException(
                    $"model input '{name}' is none of the inputs a text encoder is fed (token ids '{options.InputIdsName}', " +
                    $"attention mask '{options.AttentionMaskName}', token types '{options.TokenTypeIdsName}'); its inputs: {available}",
                    nameof(options));
            if (!node.IsTensor)
                throw new ArgumentException($"model input '{name}' is a {node.OnnxValueType}, not a tensor", nameof(options));
            var type = node.ElementDataType;
            if (type != TensorElementType.Int64 && type != TensorElementType.Int32)
                throw new ArgumentException(
                    $"model input '{name}' has element type {type}; Engram feeds token ids, masks and types as int64 or int32",
                    nameof(options));
            if (node.Dimensions.Length != 2)
                throw new ArgumentException(
                    $"model input '{name}' has rank {node.Dimensions.Length}; Engram feeds [batch, sequence] (rank 2)", nameof(options));
            result.Add(new ModelInput(name, role, type == TensorElementType.Int64));
        }
        return new ModelInputs(result);
    }
}
