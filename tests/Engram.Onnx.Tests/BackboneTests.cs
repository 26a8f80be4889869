using Engram.Onnx.Backbone;

namespace Engram.Onnx.Tests;

public class BackboneTests
{
    [Test]
    public void RunsThroughIoBindingWithInt64AndInt32Inputs()
    {
        foreach (var type in new[] { TinyOnnx.Int64, TinyOnnx.Int32 })
        {
            using var b = OnnxBackbone.Load(TinyOnnx.DoubleNeg(inputType: type));
            Assert.That(b.OutputNames, Is.EqualTo(new[] { "y" }), "default output: the first when there is no last_hidden_state");
            b.Run([1, 2, 3]);
            Assert.That(b.Output().ToArray(), Is.EqualTo(new float[] { -2, -4, -6 }));
            b.Run([5]);
            Assert.That(b.Output().ToArray(), Is.EqualTo(new float[] { -10 }));
        }
    }

    [Test]
    public void EvictedLengthsAreRebuiltCorrectly()
    {
        using var b = OnnxBackbone.Load(TinyOnnx.DoubleNeg(), new BackboneOptions { MaxCachedLengths = 2 });
        foreach (var n in new[] { 3, 4, 5, 3, 4, 1, 5 })
        {
            var ids = Enumerable.Range(1, n).ToArray();
            b.Run(ids);
            Assert.That(b.Output().ToArray(), Is.EqualTo(ids.Select(i => -2f * i).ToArray()), $"length {n}");
        }
        Assert.That(b.BoundOutputBytes, Is.EqualTo((5 + 1) * sizeof(float)), "two lengths kept: the two most recent");
    }

    [Test]
    public void SteadyStateAllocatesNothing()
    {
        using var b = OnnxBackbone.Load(TinyOnnx.DoubleNeg());
        int[] ids = Enumerable.Range(0, 64).ToArray();
        for (int i = 0; i < 3; i++) b.Run(ids);
        long before = GC.GetAllocatedBytesForCurrentThread();
        float sum = 0;
        for (int i = 0; i < 100; i++)
        {
            b.Run(ids);
            sum += b.Output()[63];
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long perCall = allocated / 100;
        TestContext.Out.WriteLine($"managed bytes allocated per Run (tiny model, 64 tokens): {perCall}");
        Assert.That(allocated, Is.Zero);
        Assert.That(sum, Is.EqualTo(-126f * 100));
    }

    [Test]
    public void CudaRequestedOnTheCpuPackageFallsBackAndSaysWhy()
    {
        using var b = OnnxBackbone.Load(TinyOnnx.DoubleNeg(), new BackboneOptions { ExecutionProvider = ExecutionProviderKind.Cuda });
        Assert.That(b.ExecutionProvider, Is.EqualTo(ExecutionProviderKind.Cpu));
        Assert.That(b.ExecutionProviderMessage, Does.Contain("CUDA requested, running on the CPU"));
        Assert.That(b.ExecutionProviderMessage, Does.Contain("Microsoft.ML.OnnxRuntime.Gpu"));
        b.Run([4]);
        Assert.That(b.Output()[0], Is.EqualTo(-8f));
    }

    [Test]
    public void CudaWithoutFallbackThrows()
    {
        var e = Assert.Throws<InvalidOperationException>(() => OnnxBackbone.Load(TinyOnnx.DoubleNeg(),
            new BackboneOptions { ExecutionProvider = ExecutionProviderKind.Cuda, AllowCpuFallback = false }));
        Assert.That(e!.Message, Does.Contain("CPU fallback disabled"));
    }

    [Test]
    public void CpuProviderHasNoRemark()
    {
        using var b = OnnxBackbone.Load(TinyOnnx.DoubleNeg());
        Assert.That(b.ExecutionProvider, Is.EqualTo(ExecutionProviderKind.Cpu));
        Assert.That(b.ExecutionProviderMessage, Is.Empty);
    }
}

public class BackboneBadInputTests
{
    [Test]
    public void MissingModelFileNamesThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), $"engram-missing-{Guid.NewGuid():N}.onnx");
        var e = Assert.Throws<FileNotFoundException>(() => OnnxBackbone.Load(path));
        Assert.That(e!.Message, Does.Contain(path));
    }

    [Test]
    public void CorruptModelFileIsInvalidData()
    {
        var path = Path.Combine(Path.GetTempPath(), $"engram-corrupt-{Guid.NewGuid():N}.onnx");
        var bytes = TinyOnnx.DoubleNeg();
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => OnnxBackbone.Load(path));
            Assert.That(e!.Message, Does.Contain(path));
            Assert.Throws<InvalidDataException>(() => OnnxBackbone.Load(new byte[] { 1, 2, 3, 4, 5 }));
            Assert.Throws<InvalidDataException>(() => OnnxBackbone.Load(Array.Empty<byte>()));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void MissingOutputIsNamedWithAHint()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxBackbone.Load(TinyOnnx.DoubleNeg(), new BackboneOptions { Outputs = ["h"] }));
        Assert.That(e!.Message, Does.Contain("no output 'h'").And.Contain("ExposeOutputs"));
    }

    [Test]
    public void WrongInputNameListsTheModelsInputs()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxBackbone.Load(TinyOnnx.DoubleNeg(inputName: "tokens")));
        Assert.That(e!.Message, Does.Contain("no input 'input_ids'").And.Contain("tokens"));
        using var ok = OnnxBackbone.Load(TinyOnnx.DoubleNeg(inputName: "tokens"), new BackboneOptions { InputIdsName = "tokens" });
        ok.Run([2]);
        Assert.That(ok.Output()[0], Is.EqualTo(-4f));
    }

    [Test]
    public void FloatTokenInputIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxBackbone.Load(TinyOnnx.DoubleNeg(inputType: TinyOnnx.Float)));
        Assert.That(e!.Message, Does.Contain("'input_ids'").And.Contain("Float"));
    }

    [Test]
    public void ExtraUnknownInputIsRejected()
    {
        var model = TinyOnnx.Model(
            [new TinyOnnx.Value("input_ids", TinyOnnx.Int64, 1, "seq"), new TinyOnnx.Value("pixels", TinyOnnx.Float, 1, "seq")],
            [new TinyOnnx.Node("Cast", ["input_ids"], ["x"], CastTo: TinyOnnx.Float), new TinyOnnx.Node("Add", ["x", "pixels"], ["y"])],
            [new TinyOnnx.Value("y", TinyOnnx.Float, 1, "seq")]);
        var e = Assert.Throws<ArgumentException>(() => OnnxBackbone.Load(model));
        Assert.That(e!.Message, Does.Contain("'pixels'"));
    }

    [Test]
    public void NonFloatOutputIsRejected()
    {
        var model = TinyOnnx.Model(
            [new TinyOnnx.Value("input_ids", TinyOnnx.Int64, 1, "seq")],
            [new TinyOnnx.Node("Neg", ["input_ids"], ["y"])],
            [new TinyOnnx.Value("y", TinyOnnx.Int64, 1, "seq")]);
        Assert.Throws<ArgumentException>(() => OnnxBackbone.Load(model, new BackboneOptions { Outputs = ["y"] }));
    }

    [Test]
    public void EmptySegmentIsRejected()
    {
        using var b = OnnxBackbone.Load(TinyOnnx.DoubleNeg());
        Assert.Throws<ArgumentException>(() => b.Run(ReadOnlySpan<int>.Empty));
        Assert.Throws<InvalidOperationException>(() => b.Output());
    }
}
