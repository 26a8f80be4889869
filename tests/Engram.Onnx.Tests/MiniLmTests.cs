using System.Diagnostics;
using Engram.Onnx.Backbone;
using Engram.Onnx.Models;

namespace Engram.Onnx.Tests;

public class MiniLmTests
{
    private MiniLmBackbone model = null!;

    [OneTimeSetUp]
    public void Load() => model = MiniLmBackbone.Load();

    [OneTimeTearDown]
    public void Unload() => model.Dispose();

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }

    [Test]
    public void TokenizerMatchesBertUncasedVocabulary()
    {
        // bert-base-uncased ids: hello 7592, world 2088; [CLS] 101, [SEP] 102.
        Assert.That(model.Tokenize("Hello, World"), Is.EqualTo(new[] { 7592, 1010, 2088 }));
        var segs = model.Segments(new[] { 7592, 2088 });
        Assert.That(segs.Single(), Is.EqualTo(new[] { 101, 7592, 2088, 102 }));
    }

    [Test]
    public void HiddenStatesAreFiniteDeterministicAndShaped()
    {
        const string text = "The quick brown fox jumps over the lazy dog near the river bank.";
        var first = model.Encode(text);
        var second = model.Encode(text);
        int tokens = model.Tokenize(text).Length + 2;
        Assert.That(first, Has.Count.EqualTo(1));
        Assert.That(model.Backbone.OutputShape().ToArray(), Is.EqualTo(new long[] { 1, tokens, MiniLmBackbone.HiddenSize }));
        Assert.That(first[0], Has.Length.EqualTo(tokens * MiniLmBackbone.HiddenSize));
        Assert.That(first[0].All(float.IsFinite));
        Assert.That(first[0].Select(Math.Abs).Max(), Is.GreaterThan(0.1f), "a real model's states are not all near zero");
        Assert.That(second[0], Is.EqualTo(first[0]), "same text, same states, bit for bit");
    }

    [Test]
    public void RelatedSentencesEmbedCloserThanUnrelatedOnes()
    {
        var guitar = model.Embed("A man is playing a guitar on the stage.");
        var music = model.Embed("Someone performs a song on an acoustic guitar.");
        var market = model.Embed("The stock market fell sharply after the interest rate decision.");
        var stocks = model.Embed("Share prices dropped when the central bank raised rates.");
        double related1 = Cosine(guitar, music), related2 = Cosine(market, stocks);
        double unrelated1 = Cosine(guitar, market), unrelated2 = Cosine(music, stocks);
        TestContext.Out.WriteLine($"cos related {related1:F3} {related2:F3}, unrelated {unrelated1:F3} {unrelated2:F3}");
        Assert.That(Math.Min(related1, related2), Is.GreaterThan(Math.Max(unrelated1, unrelated2) + 0.2));
    }

    [Test]
    public void LongTextIsCutIntoSegmentsOfAtMost256Tokens()
    {
        var text = string.Join(" ", Enumerable.Repeat("Memory banks let a frozen encoder read what it saw long ago.", 60));
        int content = model.Tokenize(text).Length;
        var segments = model.Segments(model.Tokenize(text));
        Assert.That(segments.Sum(s => s.Length - 2), Is.EqualTo(content));
        Assert.That(segments.All(s => s.Length <= MiniLmBackbone.MaxSegmentTokens && s[0] == 101 && s[^1] == 102));
        Assert.That(segments.Take(segments.Count - 1).All(s => s.Length == MiniLmBackbone.MaxSegmentTokens));
        var states = model.Encode(text);
        Assert.That(states.Select(s => s.Length), Is.EqualTo(segments.Select(s => s.Length * MiniLmBackbone.HiddenSize)));
        Assert.That(states.All(s => s.All(float.IsFinite)));
    }

    [Test]
    public void EmptyTextIsRejected()
    {
        Assert.Throws<ArgumentException>(() => model.Encode(""));
        Assert.Throws<ArgumentException>(() => model.Encode("   \n\t "));
        Assert.Throws<ArgumentNullException>(() => model.Encode(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Segments(new[] { 1 }, maxTokens: 257));
    }

    [Test]
    public void SteadyStateAllocatesNothingAndReportsThroughput()
    {
        var ids = model.Segments(model.Tokenize(string.Join(" ", Enumerable.Repeat("Long context needs a memory that is cheap to read.", 40))))[0];
        Assert.That(ids, Has.Length.EqualTo(MiniLmBackbone.MaxSegmentTokens));
        var backbone = model.Backbone;
        for (int i = 0; i < 2; i++) backbone.Run(ids);
        const int runs = 10;
        // Stopwatch timestamps, not a Stopwatch object: the measurement itself must not allocate.
        long before = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < runs; i++) backbone.Run(ids);
        var elapsed = Stopwatch.GetElapsedTime(start);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long perCall = allocated / runs;
        double tokensPerSecond = runs * ids.Length / elapsed.TotalSeconds;
        TestContext.Out.WriteLine(
            $"all-MiniLM-L6-v2, ONNX Runtime CPU ({Environment.ProcessorCount} cores), segment {ids.Length} tokens: " +
            $"{tokensPerSecond:F0} tokens/s, {elapsed.TotalMilliseconds / runs:F1} ms/segment, {perCall} managed bytes allocated per Run");
        Assert.That(allocated, Is.Zero);
    }

    [Test]
    public void CudaRequestFallsBackToCpuWithTheSameStates()
    {
        using var cuda = MiniLmBackbone.Load(new BackboneOptions { ExecutionProvider = ExecutionProviderKind.Cuda });
        Assert.That(cuda.Backbone.ExecutionProvider, Is.EqualTo(ExecutionProviderKind.Cpu));
        Assert.That(cuda.Backbone.ExecutionProviderMessage, Does.Contain("CUDA"));
        var a = cuda.Encode("fallback check")[0];
        var b = model.Encode("fallback check")[0];
        Assert.That(a, Is.EqualTo(b));
    }
}
