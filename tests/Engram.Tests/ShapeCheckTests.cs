using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// Host buffers are size-checked in managed code before libengram is called. Every problem here also
/// has an out-of-range target: had native been reached it would have thrown EngramException
/// (OutOfRange) instead of the ArgumentException each test expects.
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

    private static void ExpectArgument(TestDelegate call, string mentions)
    {
        var e = Assert.Throws(Is.InstanceOf<ArgumentException>(), call)!;
        Assert.That(e.Message, Does.Contain(mentions));
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
    public void ZeroSizedShape() => ExpectArgument(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(new CceShape(0, D, V), [], _c, []), new float[1]), "n must be");

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
    public void GradientsNeedAnOutput() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>()), "no output");

    [Test]
    public void WrongGradELength() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>(e: new float[N * D - 1])), "grads.E");

    [Test]
    public void WrongGradCLength() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>(c: new float[V * D + 1])), "grads.C");

    [Test]
    public void GradBiasWithoutBias() => ExpectArgument(
        () => Cce.Backward(_ctx, new CceInputs<float, long>(new CceShape(N, D, V), _e, _c, _targets), new CceGrads<float>(bias: new float[V])),
        "no bias");

    [Test]
    public void GradientsInAThirdType() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<Half>(e: new Half[N * D])), "float or as the inputs' type");

    [Test]
    public void GradientAliasingAnInput() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>(e: _e)), "overlaps");

    [Test]
    public void WrongGradLossLength() => ExpectArgument(
        () => Cce.Backward(_ctx, Inputs(), new CceGrads<float>(e: new float[N * D]), gradLoss: new float[2]), "gradLoss");

    [Test]
    public void ForwardRejectsAShard() => ExpectArgument(
        () => Cce.Forward(_ctx, new CceInputs<float, long>(CceShape.Shard(N, D, 0, V, 2 * V), _e, _c, _targets), new float[1]),
        "ShardForward");

    [Test]
    public void ShardBackwardNeedsTheGlobalLse() => ExpectArgument(
        () => Cce.Backward(_ctx, new CceInputs<float, long>(CceShape.Shard(N, D, V, V, 2 * V), _e, _c, _targets),
            new CceGrads<float>(e: new float[N * D])), "global lse");

    [Test]
    public void ShardOutsideTheVocabulary() => ExpectArgument(
        () => Cce.ShardForward(_ctx, new CceInputs<float, long>(CceShape.Shard(N, D, V + 1, V, 2 * V), _e, _c, _targets),
            new float[N], new float[N]), "vocab_start");

    [Test]
    public void ShardForwardNeedsLogitSumWithSmoothing() => ExpectArgument(
        () => Cce.ShardForward(_ctx, new CceInputs<float, long>(CceShape.Shard(N, D, 0, V, 2 * V), _e, _c, _targets),
            new float[N], new float[N], options: new CceOptions { LabelSmoothing = 0.1f }), "logitSum");

    [Test]
    public void ShardCombineChecksItsShardLse() => ExpectArgument(
        () => Cce.ShardCombine<long>(_ctx, 2, 2 * V, new float[N], new float[N], default, _targets, new float[1]), "numShards·n");

    [TestCase(1.0f, 0f, 0f, "LabelSmoothing")]
    [TestCase(0f, -1f, 0f, "Softcap")]
    [TestCase(0f, float.NaN, 0f, "Softcap")]
    [TestCase(0f, 0f, float.PositiveInfinity, "FilterEps")]
    public void InvalidOptions(float smoothing, float softcap, float filter, string name)
    {
        var o = new CceOptions { LabelSmoothing = smoothing, Softcap = softcap, FilterEps = filter };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Cce.Forward(_ctx, Inputs(), new float[1], options: o))!;
        Assert.That(e.ParamName, Is.EqualTo(name));
    }

    [Test]
    public void ChecksDoNotDependOnTheBackend()
    {
        using var ilgpu = EngramContext.Create(EngramBackend.IlgpuCpu);
        ExpectArgument(() => Cce.Forward(ilgpu, Inputs(), new float[N]), "loss");
    }
}
