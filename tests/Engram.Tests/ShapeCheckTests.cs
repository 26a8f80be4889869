using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// Managed code checks only what libengram cannot: span lengths against the shape and the .NET element
/// types (a plain ArgumentException naming the span, thrown before libengram is called: every problem here
/// also has an out-of-range target, which native would have reported as OutOfRange). Every other rule is
/// libengram's, and its ENGRAM_ERR_INVALID_ARGUMENT arrives as EngramArgumentException (an
/// ArgumentException) naming the argument as the C ABI does; the ILGPU port applies the same rules with
/// the same exception types.
/// </summary>
public sealed class ShapeCheckTests
{
    private const int N = 6, D = 5, V = 9;
    private EngramContext _ctx = null!;
    private float[] _e = null!, _c = null!, _bias = null!;
    private long[] _targets = null!;

    [OneTimeSetUp]
    public void Open() => _ctx = EngramContext.Create(EngramBackend.NativeCpu);

    [OneTimeTearDown]
    public void Close() => _ctx.Dispose();

    [SetUp]
    public void Data()
    {
        _e = new float[N * D];
        _c = new float[V * D];
        _bias = new float[V];
        _targets = [0, 1, 2, 3, 4, 1000]; // 1000: out of range, would be a native OutOfRange
    }

    private CceInputs<float, long> Inputs(CceShape? shape = null) => new(shape ?? new CceShape(N, D, V), _e, _c, _targets, _bias);

    // A managed span-length or element-type check: a plain ArgumentException, libengram not called.
    private static void ExpectArgument(TestDelegate call, string mentions)
    {
        var e = Assert.Throws<ArgumentException>(call)!;
        Assert.That(e.Message, Does.Contain(mentions));
    }

    // A rule libengram enforces: ENGRAM_ERR_INVALID_ARGUMENT as EngramArgumentException.
    private static EngramArgumentException ExpectNative(TestDelegate call, string mentions)
    {
        var e = Assert.Throws<EngramArgumentException>(call)!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.InvalidArgument));
        Assert.That(e.NativeMessage, Does.Contain(mentions));
        return e;
    }

    [Test]
    public void ShortE() => ExpectArgument(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(new CceShape(N, D, V), _e.AsSpan(1), _c, _targets), new float[1]), "n·d");

    [Test]
    public void ShortC() => ExpectArgument(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(new CceShape(N, D, V), _e, _c.AsSpan(0, 3), _targets), new float[1]), "v·d");

    [Test]
    public void WrongTargetCount() => ExpectArgument(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(new CceShape(N, D, V), _e, _c, _targets.AsSpan(1)), new float[1]), "targets");

    [Test]
    public void WrongBiasLength() => ExpectArgument(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(new CceShape(N, D, V), _e, _c, _targets, _bias.AsSpan(1)), new float[1]), "bias");

    [Test]
    public void ZeroSizedShape() => ExpectNative(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(new CceShape(0, D, V), [], _c, []), new float[1]), "in->n");

    [Test]
    public void NegativeSizeGoesToNativeWithoutALengthCheck() => ExpectNative(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(new CceShape(N, -D, V), _e, _c, _targets), new float[1]), "in->d");

    [Test]
    public void SizesWhoseProductOverflowsGoToNative() => ExpectNative(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(new CceShape(N, long.MaxValue / 2, V), _e, _c, _targets), new float[1]),
        "in->d");

    [TestCase(CceReduction.None, 1)]
    [TestCase(CceReduction.Mean, N)]
    [TestCase(CceReduction.Sum, 0)]
    public void LossLengthFollowsTheReduction(CceReduction reduction, int length) => ExpectArgument(
        () => Cce.Forward(_ctx, Inputs(), new float[length], options: new CceOptions { Reduction = reduction }), "loss");

    [Test]
    public void WrongLseLength() => ExpectArgument(() => Cce.Forward(_ctx, Inputs(), new float[1], new float[N + 1]), "lse");

    [Test]
    public void UnsupportedElementType() => ExpectArgument(
        () => Cce.Forward(_ctx, new CceInputs<double, long>(new CceShape(N, D, V), new double[N * D], new double[V * D], _targets), new float[1]),
        "not supported");

    [Test]
    public void UnsupportedTargetType() => ExpectArgument(
        () => Cce.Forward(_ctx, new CceInputs<float, short>(new CceShape(N, D, V), _e, _c, new short[N]), new float[1]), "int or long");

    [Test]
    public void GradientsNeedAnOutput() => ExpectNative(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>()), "no output");

    [Test]
    public void WrongGradELength() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>(e: new float[N * D - 1])), "grads.E");

    [Test]
    public void WrongGradCLength() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>(c: new float[V * D + 1])), "grads.C");

    [Test]
    public void GradBiasWithoutBias() => ExpectNative(
        () => Cce.Backward(_ctx, new CceInputs<float, long>(new CceShape(N, D, V), _e, _c, _targets), new CceGrads<float>(bias: new float[V])),
        "in->bias is NULL");

    [Test]
    public void GradientsInAThirdType()
    {
        // A dtype libengram does not write: ENGRAM_ERR_UNSUPPORTED, so an EngramException.
        var e = Assert.Throws<EngramException>(() => Cce.Backward(_ctx, Inputs(), new CceGrads<Half>(e: new Half[N * D])))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.Unsupported));
        Assert.That(e.NativeMessage, Does.Contain("as F32 or as the inputs' dtype"));
    }

    [Test]
    public void GradientAliasingAnInput() => ExpectNative(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>(e: _e)), "overlaps");

    [Test]
    public void WrongGradLossLength() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>(e: new float[N * D]), gradLoss: new float[2]), "gradLoss");

    [Test]
    public void ForwardRejectsAShard() => ExpectNative(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(CceShape.Shard(N, D, 0, V, 2 * V), _e, _c, _targets), new float[1]),
        "engram_cce_shard_forward");

    [Test]
    public void ShardBackwardNeedsTheGlobalLse() => ExpectNative(
        () => Cce.Backward(_ctx, new CceInputs<float, long>(CceShape.Shard(N, D, V, V, 2 * V), _e, _c, _targets),
            new CceGrads<float>(e: new float[N * D])), "lse");

    [Test]
    public void ShardOutsideTheVocabulary() => ExpectNative(
        () => Cce.ShardForward(_ctx, new CceInputs<float, long>(CceShape.Shard(N, D, V + 1, V, 2 * V), _e, _c, _targets),
            new float[N], new float[N]), "vocab_start");

    [Test]
    public void ShardForwardNeedsLogitSumWithSmoothing() => ExpectNative(
        () => Cce.ShardForward(_ctx, new CceInputs<float, long>(CceShape.Shard(N, D, 0, V, 2 * V), _e, _c, _targets),
            new float[N], new float[N], options: new CceOptions { LabelSmoothing = 0.1f }), "logit_sum");

    [TestCase(0, 2 * V)]
    [TestCase(2 * V + 1, 2 * V)]
    public void ShardCombineChecksNumShards(int numShards, int vocabTotal) => ExpectNative(
        () => Cce.ShardCombine<long>(_ctx, numShards, vocabTotal, new float[numShards * N], new float[N], default, _targets,
            new float[1]), "num_shards");

    [Test]
    public void ShardCombineChecksItsShardLse() => ExpectArgument(
        () => Cce.ShardCombine<long>(_ctx, 2, 2 * V, new float[N], new float[N], default, _targets, new float[1]), "numShards·n");

    [TestCase(1.0f, 0f, 0f, "opts->label_smoothing")]
    [TestCase(0f, -1f, 0f, "opts->softcap")]
    [TestCase(0f, float.NaN, 0f, "opts->softcap")]
    [TestCase(0f, 0f, float.PositiveInfinity, "opts->filter_eps")]
    public void InvalidOptions(float smoothing, float softcap, float filter, string name)
    {
        var o = new CceOptions { LabelSmoothing = smoothing, Softcap = softcap, FilterEps = filter };
        var e = ExpectNative(() => Cce.Forward(_ctx, Inputs(), new float[1], options: o), name);
        Assert.That(e.ParamName, Is.EqualTo(name));
    }

    [Test]
    public void ChecksDoNotDependOnTheBackend()
    {
        using var ilgpu = EngramContext.Create(EngramBackend.IlgpuCpu);
        ExpectArgument(() => Cce.Forward(ilgpu, Inputs(), new float[N]), "loss");
        // The ILGPU port never calls libengram; it applies libengram's rules with the same exception types.
        Assert.Throws<EngramArgumentException>(() => Cce.Forward(ilgpu, Inputs(), new float[1], options: new CceOptions { Softcap = -1 }));
        Assert.Throws<EngramArgumentException>(() => Cce.Forward(ilgpu,
            new CceInputs<float, long>(CceShape.Shard(N, D, 0, V, 2 * V), _e, _c, _targets), new float[1]));
        Assert.Throws<EngramArgumentException>(() => Cce.Forward(ilgpu, new CceInputs<float, long>(new CceShape(0, D, V), [], _c, []), new float[1]));
        Assert.Throws<EngramArgumentException>(() => Cce.Backward(ilgpu, Inputs(), new CceGrads<float>(e: _e)));
        Assert.Throws<EngramArgumentException>(() => Cce.Backward(ilgpu, Inputs(), new CceGrads<float>()));
        Assert.Throws<EngramArgumentException>(() => Cce.ShardCombine<long>(ilgpu, 0, 2 * V, [], new float[N], default, _targets, new float[1]));
        var e = Assert.Throws<EngramException>(() => Cce.Backward(ilgpu, Inputs(), new CceGrads<Half>(e: new Half[N * D])))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.Unsupported));
    }
}
