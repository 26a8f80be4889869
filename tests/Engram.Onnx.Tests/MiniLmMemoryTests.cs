using Engram.Onnx.Backbone;
using Engram.Onnx.Graph;
using Engram.Onnx.Memory;
using Engram.Onnx.Models;

namespace Engram.Onnx.Tests;

/// <summary>The pieces together: MiniLM's attention keys and values, exposed by graph editing,
/// cached in a memory bank, retrieved by the layer's queries, saved and reloaded.</summary>
public class MiniLmMemoryTests
{
    private const int Layer = 3;

    [Test]
    public void FindsSixAttentionLayersWithDistinctProjections()
    {
        var graph = OnnxGraph.Inspect(MiniLmResources.ReadModel());
        var layers = AttentionTensors.Find(graph);
        Assert.That(layers, Has.Count.EqualTo(6), "all-MiniLM-L6-v2 has 6 layers");
        // Hugging Face's BertSelfAttention computes query, key, value in that order: layer 0's
        // bias adds are Add_35, Add_37, Add_51 in the exported graph.
        var producer = graph.Nodes.SelectMany(n => n.Outputs.Select(o => (o, n.Name))).ToDictionary(x => x.o, x => x.Name);
        Assert.That(new[] { producer[layers[0].Query], producer[layers[0].Key], producer[layers[0].Value] },
            Is.EqualTo(new[] { "Add_35", "Add_37", "Add_51" }));
        foreach (var l in layers)
            Assert.That(new[] { l.Query, l.Key, l.Value }.Distinct().Count(), Is.EqualTo(3), $"layer {l.Layer}");
        Assert.That(layers.SelectMany(l => new[] { l.Query, l.Key, l.Value }).Distinct().Count(), Is.EqualTo(18));
        Assert.That(AttentionTensors.Find(OnnxGraph.Inspect(TinyOnnx.DoubleNeg())), Is.Empty);
    }

    [Test]
    public void KeysAndValuesOfPastSegmentsAreCachedRetrievedAndPersisted()
    {
        var layer = AttentionTensors.Find(OnnxGraph.Inspect(MiniLmResources.ReadModel()))[Layer];
        string[] qkv = [layer.Query, layer.Key, layer.Value];
        using var model = MiniLmBackbone.Load(new BackboneOptions { Outputs = qkv }, m => OnnxGraph.ExposeOutputs(m, qkv));
        var kv = model.Backbone;

        const int d = MiniLmBackbone.HiddenSize;
        var bank = new MemoryBank(d, $"all-MiniLM-L6-v2/layer{Layer}", capacityTokens: 512, chunkSize: 4);
        var text = "The river flooded the old mill in spring. Farmers moved their cattle to the hills. " +
                   "Years later the mill was rebuilt with stone from the quarry near the village.";
        var segments = model.Segments(model.Tokenize(text), maxTokens: 16);
        Assert.That(segments.Count, Is.GreaterThan(2));
        foreach (var seg in segments.Take(segments.Count - 1))
        {
            kv.Run(seg);
            Assert.That(kv.OutputShape(1).ToArray(), Is.EqualTo(new long[] { 1, seg.Length, d }));
            bank.Append(kv.Output(1), kv.Output(2));
        }
        long tokens = segments.Take(segments.Count - 1).Sum(s => (long)s.Length);
        Assert.That(bank.Count, Is.EqualTo(tokens));
        Assert.That(bank.UsedBytes, Is.EqualTo((2 * tokens + bank.ChunkCount) * d * sizeof(float)));

        // The newest segment's queries read the past: top-4 chunks per query token.
        kv.Run(segments[^1]);
        var queries = kv.Output(0);
        int q = queries.Length / d, k = 4;
        var ids = new long[q * k];
        var scores = new float[q * k];
        bank.Retrieve(queries, k, ids, scores);
        for (int i = 0; i < q; i++)
            for (int j = 1; j < k; j++)
                Assert.That(scores[i * k + j], Is.LessThanOrEqualTo(scores[i * k + j - 1]));
        Assert.That(ids.All(c => c >= bank.FirstChunk && c < bank.FirstChunk + bank.ChunkCount));

        var path = Path.Combine(Path.GetTempPath(), $"engram-minilm-{Guid.NewGuid():N}.emb");
        try
        {
            MemoryBankFile.Save(bank, path);
            var loaded = MemoryBankFile.Load(path);
            var ids2 = new long[q * k];
            var scores2 = new float[q * k];
            loaded.Retrieve(queries, k, ids2, scores2);
            Assert.That(ids2, Is.EqualTo(ids));
            Assert.That(scores2, Is.EqualTo(scores));
            // A bank of another backbone (hidden size 768) refuses this file and stays as it was.
            var other = new MemoryBank(768, "bert-base/layer3", capacityTokens: 512);
            var e = Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(other, path));
            Assert.That(e!.Message, Does.Contain("hidden size 384").And.Contain("hidden size 768"));
            Assert.That(other.Count, Is.Zero);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
