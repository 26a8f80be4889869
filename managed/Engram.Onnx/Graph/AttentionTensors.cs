namespace Engram.Onnx.Graph;

/// <summary>The query, key and value projections ([batch, tokens, hidden], before the split into
/// heads) feeding one self-attention layer of a model.</summary>
public sealed record AttentionProjections(int Layer, string Query, string Key, string Value);

/// <summary>
/// Finds the attention projections of a BERT-style encoder graph (as exported by Hugging Face /
/// torch.onnx), so a LongMem memory bank can cache a layer's keys and values: expose them with
/// <see cref="OnnxGraph.ExposeOutputs"/>. Layers are found from their Softmax nodes, in graph order:
/// the MatMul that consumes the softmax output multiplies by the values; the MatMul whose output
/// (through the scale and mask arithmetic) feeds the softmax multiplies queries by transposed keys.
/// Each operand is traced back through Transpose/Reshape (the head split) to the projection's
/// output tensor. Graphs with fused attention (e.g. a com.microsoft Attention node) have no such
/// pattern and yield no layers.
/// </summary>
public static class AttentionTensors
{
    private static readonly HashSet<string> HeadSplit = new(StringComparer.Ordinal) { "Transpose", "Reshape" };
    private static readonly HashSet<string> ScoreArithmetic = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div" };

    /// <summary>Every attention layer found, in graph order.</summary>
    public static IReadOnlyList<AttentionProjections> Find(OnnxGraphInfo graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var producer = new Dictionary<string, OnnxNodeInfo>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes)
            foreach (var o in n.Outputs)
                if (o.Length > 0) producer[o] = n;
        var consumers = graph.Nodes.SelectMany(n => n.Inputs.Select(i => (Input: i, Node: n)))
            .ToLookup(x => x.Input, x => x.Node, StringComparer.Ordinal);
        var constants = new HashSet<string>(graph.Initializers, StringComparer.Ordinal);

        var layers = new List<AttentionProjections>();
        foreach (var softmax in graph.Nodes.Where(n => n.OpType == "Softmax"))
        {
            var probs = softmax.Outputs[0];
            var valueMatMul = consumers[probs].FirstOrDefault(n => n.OpType == "MatMul");
            var scores = ScoresMatMul(softmax.Inputs[0], producer, constants, depth: 0);
            if (valueMatMul is null || scores is null) continue;
            var value = Projection(valueMatMul.Inputs.First(i => i != probs), producer);
            var query = Projection(scores.Inputs[0], producer);
            var key = Projection(scores.Inputs[1], producer);
            if (value is null || query is null || key is null) continue;
            layers.Add(new AttentionProjections(layers.Count, query, key, value));
        }
        return layers;
    }

    // The Q·K^T MatMul: both operands computed (no initializer), reached from the softmax input
    // through scaling and masking arithmetic only.
    private static OnnxNodeInfo? ScoresMatMul(string tensor, Dictionary<string, OnnxNodeInfo> producer, HashSet<string> constants, int depth)
    {
        if (!producer.TryGetValue(tensor, out var p)) return null;
        if (p.OpType == "MatMul" && p.Inputs.Count == 2 && !p.Inputs.Any(constants.Contains)) return p;
        if (!ScoreArithmetic.Contains(p.OpType) || depth >= 4) return null;
        foreach (var input in p.Inputs)
        {
            var found = ScoresMatMul(input, producer, constants, depth + 1);
            if (found is not null) return found;
        }
        return null;
    }

    // Back through the head split (Reshape/Transpose) to the projection (bias Add or MatMul).
    private static string? Projection(string tensor, Dictionary<string, OnnxNodeInfo> producer)
    {
        for (int steps = 0; steps < 8 && producer.TryGetValue(tensor, out var p); steps++)
        {
            if (p.OpType is "Add" or "MatMul") return tensor;
            if (!HeadSplit.Contains(p.OpType)) return null;
            tensor = p.Inputs[0];
        }
        return null;
    }
}
