using Engram.Onnx.Graph;

namespace Engram.Onnx.Tests;

/// <summary>Builds tiny ONNX models for tests, written field by field with Engram's own protobuf
/// writer (ONNX IR 8, opset 17), so tests control names, element types and graph shape.</summary>
internal static class TinyOnnx
{
    public const int Float = 1, Int32 = 6, Int64 = 7;

    public sealed record Value(string Name, int ElemType, params object[] Dims);

    public sealed record Node(string OpType, string[] Inputs, string[] Outputs, long? CastTo = null);

    public static byte[] Model(IEnumerable<Value> inputs, IEnumerable<Node> nodes, IEnumerable<Value> outputs)
    {
        var graph = new ProtoWriter();
        int k = 0;
        foreach (var n in nodes)
        {
            var node = new ProtoWriter();
            foreach (var i in n.Inputs) node.StringField(1, i);
            foreach (var o in n.Outputs) node.StringField(2, o);
            node.StringField(3, $"{n.OpType}_{k++}");
            node.StringField(4, n.OpType);
            if (n.CastTo is long to)
            {
                var attr = new ProtoWriter();
                attr.StringField(1, "to");
                attr.VarintField(3, to);
                attr.VarintField(20, 2); // AttributeProto.INT
                node.MessageField(5, attr);
            }
            graph.MessageField(1, node);
        }
        graph.StringField(2, "tiny");
        foreach (var v in inputs) graph.MessageField(11, ValueInfo(v));
        foreach (var v in outputs) graph.MessageField(12, ValueInfo(v));

        var model = new ProtoWriter();
        model.VarintField(1, 8); // ir_version
        model.StringField(2, "engram-tests");
        var opset = new ProtoWriter();
        opset.StringField(1, "");
        opset.VarintField(2, 17);
        model.MessageField(8, opset);
        model.MessageField(7, graph);
        return model.ToArray();
    }

    private static ProtoWriter ValueInfo(Value v)
    {
        var shape = new ProtoWriter();
        foreach (var d in v.Dims)
        {
            var dim = new ProtoWriter();
            if (d is string param) dim.StringField(2, param);
            else dim.VarintField(1, Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture));
            shape.MessageField(1, dim);
        }
        var tensor = new ProtoWriter();
        tensor.VarintField(1, v.ElemType);
        tensor.MessageField(2, shape);
        var type = new ProtoWriter();
        type.MessageField(1, tensor);
        var info = new ProtoWriter();
        info.StringField(1, v.Name);
        info.MessageField(2, type);
        return info;
    }

    /// <summary>input_ids [1, seq] int64 → Cast float "x" → "h" = x + x → "y" = -h (the only
    /// output): y[t] = -2 id[t], h[t] = 2 id[t].</summary>
    public static byte[] DoubleNeg(string inputName = "input_ids", int inputType = Int64) => Model(
        [new Value(inputName, inputType, 1, "seq")],
        [
            new Node("Cast", [inputName], ["x"], CastTo: Float),
            new Node("Add", ["x", "x"], ["h"]),
            new Node("Neg", ["h"], ["y"]),
        ],
        [new Value("y", Float, 1, "seq")]);
}
