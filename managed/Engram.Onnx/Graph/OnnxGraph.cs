namespace Engram.Onnx.Graph;

/// <summary>One node of an ONNX main graph: its name, operator, input and output tensor names.</summary>
public sealed record OnnxNodeInfo(string Name, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>What <see cref="OnnxGraph.Inspect(ReadOnlyMemory{byte})"/> reads from a model: the main graph's inputs,
/// outputs, initializer names and nodes (subgraphs of If/Loop/Scan are not walked).</summary>
public sealed record OnnxGraphInfo(
    IReadOnlyList<string> Inputs,
    IReadOnlyList<string> Outputs,
    IReadOnlyList<string> Initializers,
    IReadOnlyList<OnnxNodeInfo> Nodes)
{
    /// <summary>Every tensor name a node of the main graph produces, in node order.</summary>
    public IEnumerable<string> NodeOutputs => Nodes.SelectMany(n => n.Outputs).Where(o => o.Length > 0);
}

/// <summary>
/// Graph editing for frozen backbones. ONNX Runtime only returns a model's graph outputs; to read
/// an intermediate tensor (say the key projection of layer 3 for a LongMem memory bank) the model
/// must list it as an output. <see cref="ExposeOutputs"/> does that edit on the serialized model:
/// it copies every byte of the model unchanged except the main graph, to which it appends one
/// <c>GraphProto.output</c> (field 12) <c>ValueInfoProto</c> per requested tensor, carrying only the
/// name: ONNX Runtime infers the type and shape from the producing node. Weights (initializers)
/// are copied verbatim, so the edited model computes exactly what the original did.
/// </summary>
/// <remarks>
/// The reader and writer are hand-written for the handful of onnx.proto fields used here
/// (ModelProto.graph = 7; GraphProto node = 1, initializer = 5, input = 11, output = 12;
/// NodeProto input = 1, output = 2, name = 3, op_type = 4; ValueInfoProto.name = 1;
/// TensorProto dims = 1, data_type = 2, float_data = 4, name = 8, raw_data = 9). Models over 2 GiB (external data) are out of scope: protobuf itself
/// limits a message to 2 GiB.
/// </remarks>
public static class OnnxGraph
{
    private const int ModelGraph = 7;
    private const int GraphNode = 1, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12;
    private const int NodeInput = 1, NodeOutput = 2, NodeName = 3, NodeOpType = 4;
    private const int ValueInfoName = 1;
    private const int TensorDims = 1, TensorDataType = 2, TensorFloatData = 4, TensorName = 8, TensorRawData = 9;

    /// <summary>Reads the main graph's inputs, outputs, initializers and nodes.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a serialized ONNX model.</exception>
    public static OnnxGraphInfo Inspect(ReadOnlyMemory<byte> model)
    {
        var graph = FindGraph(model);
        var inputs = new List<string>();
        var outputs = new List<string>();
        var inits = new List<string>();
        var nodes = new List<OnnxNodeInfo>();
        var reader = new ProtoReader(model, graph.PayloadStart, graph.PayloadLength);
        while (reader.Next(out var f))
        {
            switch (f.Number)
            {
                case GraphInput: inputs.Add(ValueInfoNameOf(reader, f)); break;
                case GraphOutput: outputs.Add(ValueInfoNameOf(reader, f)); break;
                case GraphInitializer: inits.Add(StringFieldOf(reader.Nested(f), TensorName)); break;
                case GraphNode: nodes.Add(ReadNode(reader.Nested(f))); break;
            }
        }
        return new OnnxGraphInfo(inputs, outputs, inits, nodes);
    }

    /// <summary>Reads a model file and returns <see cref="Inspect(ReadOnlyMemory{byte})"/> of it.</summary>
    public static OnnxGraphInfo Inspect(string path) => Inspect(ReadModelFile(path));

    /// <summary>
    /// Returns a copy of <paramref name="model"/> whose main graph also outputs each tensor of
    /// <paramref name="tensorNames"/> (after the existing outputs, in the order given). A name that
    /// is already an output is left as it is. Each name must be produced by a node of the main
    /// graph, or be a graph input or initializer.
    /// </summary>
    /// <exception cref="ArgumentException">A name is not a tensor of the main graph.</exception>
    /// <exception cref="InvalidDataException">The bytes are not a serialized ONNX model.</exception>
    public static byte[] ExposeOutputs(ReadOnlyMemory<byte> model, IEnumerable<string> tensorNames)
    {
        ArgumentNullException.ThrowIfNull(tensorNames);
        var names = tensorNames.ToList();
        var info = Inspect(model);
        var known = new HashSet<string>(info.NodeOutputs.Concat(info.Inputs).Concat(info.Initializers), StringComparer.Ordinal);
        var existing = new HashSet<string>(info.Outputs, StringComparer.Ordinal);
        var toAdd = new List<string>();
        foreach (var name in names)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("tensor name is empty", nameof(tensorNames));
            if (!known.Contains(name))
                throw new ArgumentException(
                    $"tensor '{name}' is not produced by any node of the main graph, nor a graph input or initializer " +
                    $"({info.Nodes.Count} nodes; OnnxGraph.Inspect(model).NodeOutputs lists the names)", nameof(tensorNames));
            if (existing.Add(name)) toAdd.Add(name);
        }

        var graph = FindGraph(model);
        var newGraph = new ProtoWriter(graph.PayloadLength + 64 * toAdd.Count);
        newGraph.Raw(model.Span.Slice(graph.PayloadStart, graph.PayloadLength));
        foreach (var name in toAdd)
        {
            var valueInfo = new ProtoWriter(name.Length + 8);
            valueInfo.StringField(ValueInfoName, name);
            newGraph.MessageField(GraphOutput, valueInfo);
        }

        var result = new ProtoWriter(model.Length + 64 * toAdd.Count + 16);
        result.Raw(model.Span[..graph.FieldStart]);
        result.BytesField(ModelGraph, newGraph.WrittenSpan);
        result.Raw(model.Span[graph.FieldEnd..]);
        return result.ToArray();
    }

    /// <summary>
    /// Reads a float32 initializer (weights) of the main graph: its dims and values, from
    /// <c>raw_data</c> (little-endian) or <c>float_data</c>. For checks against a reference and
    /// for weight rewrites.
    /// </summary>
    /// <exception cref="ArgumentException">No initializer has that name, or it is not float32.</exception>
    public static (long[] Dims, float[] Data) ReadFloatInitializer(ReadOnlyMemory<byte> model, string name)
    {
        var graph = FindGraph(model);
        var reader = new ProtoReader(model, graph.PayloadStart, graph.PayloadLength);
        while (reader.Next(out var f))
        {
            if (f.Number != GraphInitializer) continue;
            var tensor = reader.Nested(f);
            var dims = new List<long>();
            long dataType = 0;
            string tensorName = "";
            ProtoField? raw = null;
            var floats = new List<float>();
            while (tensor.Next(out var t))
            {
                switch (t.Number)
                {
                    case TensorDims when t.Type == WireType.Varint: dims.Add((long)t.Varint); break;
                    case TensorDims: dims.AddRange(PackedVarints(model.Span.Slice(t.PayloadStart, t.PayloadLength))); break;
                    case TensorDataType: dataType = (long)t.Varint; break;
                    case TensorName: tensorName = tensor.String(t); break;
                    case TensorRawData: raw = t; break;
                    case TensorFloatData when t.Type == WireType.LengthDelimited:
                        floats.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(model.Span.Slice(t.PayloadStart, t.PayloadLength)).ToArray());
                        break;
                }
            }
            if (tensorName != name) continue;
            if (dataType != 1) throw new ArgumentException($"initializer '{name}' has ONNX data type {dataType}, not float32 (1)", nameof(name));
            long count = dims.Aggregate(1L, (a, d) => a * d);
            float[] data = raw is ProtoField r
                ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(model.Span.Slice(r.PayloadStart, r.PayloadLength)).ToArray()
                : floats.ToArray();
            if (data.LongLength != count) throw new InvalidDataException($"initializer '{name}' has {data.LongLength} values for dims [{string.Join(", ", dims)}]");
            return (dims.ToArray(), data);
        }
        throw new ArgumentException($"the main graph has no initializer '{name}'", nameof(name));
    }

    private static IEnumerable<long> PackedVarints(ReadOnlySpan<byte> payload)
    {
        var result = new List<long>();
        ulong v = 0;
        int shift = 0;
        foreach (var b in payload)
        {
            v |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) { result.Add((long)v); v = 0; shift = 0; }
            else if ((shift += 7) >= 64) throw new InvalidDataException("packed varint longer than 10 bytes");
        }
        if (shift != 0) throw new InvalidDataException("packed varints end inside a value");
        return result;
    }

    /// <summary>Reads a model file, with an error that names the path when it is missing.</summary>
    internal static byte[] ReadModelFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model file '{path}' does not exist", path);
        return File.ReadAllBytes(path);
    }

    private static ProtoField FindGraph(ReadOnlyMemory<byte> model)
    {
        if (model.IsEmpty) throw new InvalidDataException("not an ONNX model: the buffer is empty");
        var reader = new ProtoReader(model);
        ProtoField? graph = null;
        while (reader.Next(out var f))
        {
            if (f.Number == ModelGraph)
            {
                if (f.Type != WireType.LengthDelimited) throw new InvalidDataException("not an ONNX model: ModelProto.graph is not a message");
                if (graph is not null) throw new InvalidDataException("ModelProto has two graph fields; Engram edits only models with one");
                graph = f;
            }
        }
        return graph ?? throw new InvalidDataException("not an ONNX model: no ModelProto.graph field");
    }

    private static OnnxNodeInfo ReadNode(ProtoReader node)
    {
        string name = "", op = "";
        var inputs = new List<string>();
        var outputs = new List<string>();
        while (node.Next(out var f))
        {
            if (f.Number == NodeInput) inputs.Add(node.String(f));
            else if (f.Number == NodeOutput) outputs.Add(node.String(f));
            else if (f.Number == NodeName) name = node.String(f);
            else if (f.Number == NodeOpType) op = node.String(f);
        }
        return new OnnxNodeInfo(name, op, inputs, outputs);
    }

    private static string ValueInfoNameOf(ProtoReader graph, in ProtoField f) => StringFieldOf(graph.Nested(f), ValueInfoName);

    private static string StringFieldOf(ProtoReader message, int number)
    {
        string value = "";
        while (message.Next(out var f))
            if (f.Number == number) value = message.String(f);
        return value;
    }
}
