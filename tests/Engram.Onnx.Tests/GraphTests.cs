using Engram.Onnx.Backbone;
using Engram.Onnx.Graph;
using Engram.Onnx.Models;

namespace Engram.Onnx.Tests;

public class GraphTests
{
    [Test]
    public void InspectReadsInputsOutputsAndNodes()
    {
        var info = OnnxGraph.Inspect(TinyOnnx.DoubleNeg());
        Assert.That(info.Inputs, Is.EqualTo(new[] { "input_ids" }));
        Assert.That(info.Outputs, Is.EqualTo(new[] { "y" }));
        Assert.That(info.Nodes.Select(n => n.OpType), Is.EqualTo(new[] { "Cast", "Add", "Neg" }));
        Assert.That(info.NodeOutputs, Is.EqualTo(new[] { "x", "h", "y" }));
    }

    [Test]
    public void ExposedIntermediateIsReturnedWithItsValues()
    {
        var edited = OnnxGraph.ExposeOutputs(TinyOnnx.DoubleNeg(), ["h"]);
        Assert.That(OnnxGraph.Inspect(edited).Outputs, Is.EqualTo(new[] { "y", "h" }));
        using var backbone = OnnxBackbone.Load(edited, new BackboneOptions { Outputs = ["y", "h"] });
        backbone.Run([3, 0, 7, 11, 2]);
        Assert.That(backbone.Output(0).ToArray(), Is.EqualTo(new float[] { -6, 0, -14, -22, -4 }));
        Assert.That(backbone.Output(1).ToArray(), Is.EqualTo(new float[] { 6, 0, 14, 22, 4 }));
        Assert.That(backbone.OutputShape(1).ToArray(), Is.EqualTo(new long[] { 1, 5 }));
    }

    [Test]
    public void ExposingAnExistingOutputChangesNothing()
    {
        var model = TinyOnnx.DoubleNeg();
        Assert.That(OnnxGraph.ExposeOutputs(model, ["y"]), Is.EqualTo(model));
    }

    [Test]
    public void ExposingAnUnknownTensorNamesIt()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxGraph.ExposeOutputs(TinyOnnx.DoubleNeg(), ["nope"]));
        Assert.That(e!.Message, Does.Contain("'nope'"));
    }

    [Test]
    public void GarbageAndTruncatedBytesAreNotAModel()
    {
        var model = TinyOnnx.DoubleNeg();
        Assert.Throws<InvalidDataException>(() => OnnxGraph.Inspect(model.AsMemory(0, model.Length - 5)));
        Assert.Throws<InvalidDataException>(() => OnnxGraph.Inspect(new byte[] { 0xFF, 0xFF, 0xFF }));
        Assert.Throws<InvalidDataException>(() => OnnxGraph.Inspect(Array.Empty<byte>()));
        Assert.Throws<InvalidDataException>(() => OnnxGraph.ExposeOutputs(new byte[] { 8, 1 }, ["h"])); // ir_version only, no graph
    }

    [Test]
    public void MiniLmKeyProjectionExposedLeavesHiddenStateBitIdentical()
    {
        // Layer 0's attention: Add_35, Add_37 and Add_51 add the bias of the three 384x384
        // projections (Hugging Face's exporter names nodes by position).
        var model = MiniLmResources.ReadModel();
        var adds = OnnxGraph.Inspect(model).Nodes.Where(n => n.Name is "Add_35" or "Add_37" or "Add_51").ToList();
        Assert.That(adds, Has.Count.EqualTo(3));
        var names = adds.Select(n => n.Outputs[0]).ToList();
        var edited = OnnxGraph.ExposeOutputs(model, names);

        int[] ids = [101, 7592, 2088, 2003, 1037, 3231, 102];
        using var plain = OnnxBackbone.Load(model, new BackboneOptions { IntraOpThreads = 1 });
        using var exposed = OnnxBackbone.Load(edited, new BackboneOptions { IntraOpThreads = 1, Outputs = ["last_hidden_state", .. names] });
        plain.Run(ids);
        exposed.Run(ids);
        Assert.That(exposed.Output(0).ToArray(), Is.EqualTo(plain.Output(0).ToArray()));
        for (int i = 1; i <= 3; i++)
        {
            Assert.That(exposed.OutputShape(i).ToArray(), Is.EqualTo(new long[] { 1, ids.Length, 384 }));
            Assert.That(exposed.Output(i).ToArray().All(float.IsFinite));
        }
    }
}

public class ExposedTensorReferenceTests
{
    [Test]
    public void ExposedQueryProjectionEqualsAFloat64ReferenceFromTheExposedInputAndWeights()
    {
        // Layer 0's query projection q = x W + b, where x is the embedding LayerNorm output feeding
        // MatMul_34 and W, b are the model's own initializers: recompute it in float64 from
        // exposed x and read weights, and compare with ONNX Runtime's exposed q.
        var model = MiniLmResources.ReadModel();
        var graph = OnnxGraph.Inspect(model);
        var matmul = graph.Nodes.Single(n => n.Name == "MatMul_34");
        var add = graph.Nodes.Single(n => n.Name == "Add_35");
        var inits = new HashSet<string>(graph.Initializers);
        string x = matmul.Inputs.Single(i => !inits.Contains(i));
        var (wDims, w) = OnnxGraph.ReadFloatInitializer(model, matmul.Inputs.Single(inits.Contains));
        var (bDims, b) = OnnxGraph.ReadFloatInitializer(model, add.Inputs.Single(inits.Contains));
        Assert.That(wDims, Is.EqualTo(new long[] { 384, 384 }));
        Assert.That(bDims, Is.EqualTo(new long[] { 384 }));
        string q = add.Outputs[0];

        using var backbone = OnnxBackbone.Load(OnnxGraph.ExposeOutputs(model, [x, q]), new BackboneOptions { Outputs = [x, q] });
        int[] ids = [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102];
        backbone.Run(ids);
        var xs = backbone.Output(0).ToArray();
        var qs = backbone.Output(1).ToArray();
        const int d = 384;
        double worst = 0;
        for (int t = 0; t < ids.Length; t++)
            for (int j = 0; j < d; j++)
            {
                double acc = b[j], mag = Math.Abs(b[j]);
                for (int i = 0; i < d; i++)
                {
                    acc += (double)xs[t * d + i] * w[i * d + j];
                    mag += Math.Abs((double)xs[t * d + i] * w[i * d + j]);
                }
                // float32 accumulation over 384 terms: error bounded by ~d * eps32 * sum|terms|.
                double err = Math.Abs(qs[t * d + j] - acc) / (mag * d * 6e-8 + 1e-30);
                worst = Math.Max(worst, err);
            }
        TestContext.Out.WriteLine($"worst error / bound: {worst:G3}");
        Assert.That(worst, Is.LessThanOrEqualTo(1.0));
    }

    [Test]
    public void MissingOrNonFloatInitializerIsNamed()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => OnnxGraph.ReadFloatInitializer(TinyOnnx.DoubleNeg(), "w"))!.Message, Does.Contain("'w'"));
    }
}
