namespace Engram.Tests;

/// <summary>Engram.BFloat16: round to nearest even, special values.</summary>
public sealed class BFloat16Tests
{
    [TestCase(1.0f, (ushort)0x3F80)]
    [TestCase(-2.0f, (ushort)0xC000)]
    [TestCase(0.0f, (ushort)0x0000)]
    [TestCase(float.PositiveInfinity, (ushort)0x7F80)]
    public void ExactValues(float x, ushort bits) => Assert.That(BFloat16.FromSingle(x).Bits, Is.EqualTo(bits));

    [Test]
    public void TiesRoundToEven()
    {
        // 1 + 2^-8 lies halfway between 1 (even mantissa) and 1 + 2^-7: rounds down to 1.
        Assert.That(BFloat16.FromSingle(1f + 1f / 256).ToSingle(), Is.EqualTo(1f));
        // 1 + 3·2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
        Assert.That(BFloat16.FromSingle(1f + 3f / 256).ToSingle(), Is.EqualTo(1f + 1f / 64));
        // Just above the halfway point rounds up.
        Assert.That(BFloat16.FromSingle(1f + 1f / 256 + 1f / 65536).ToSingle(), Is.EqualTo(1f + 1f / 128));
    }

    [Test]
    public void OverflowGoesToInfinityAndNaNStaysNaN()
    {
        Assert.That(float.IsPositiveInfinity(BFloat16.FromSingle(float.MaxValue).ToSingle()), Is.True);
        Assert.That(float.IsNaN(BFloat16.FromSingle(float.NaN).ToSingle()), Is.True);
    }

    [Test]
    public void RelativeErrorIsAtMostHalfAnUlp()
    {
        var rng = new Random(3);
        for (int i = 0; i < 10000; i++)
        {
            float x = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 20)));
            float y = BFloat16.FromSingle(x).ToSingle();
            Assert.That(Math.Abs(y - x), Is.LessThanOrEqualTo(Math.Abs(x) / 256 + 1e-30), $"x = {x}");
        }
    }
}
