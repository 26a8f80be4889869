using Engram.Backends;
using Engram.Ops;
using Engram.Reference;

namespace Engram.Tests;

/// <summary>Every test needs libengram: fail the run once, with the resolver's message, if it cannot load.</summary>
[SetUpFixture]
public sealed class LibrarySetup
{
    [OneTimeSetUp]
    public void RequireLibrary()
    {
        if (!EngramLibrary.TryLoad(out string error))
            Assert.Fail("libengram could not be loaded; build it first (./build.sh, or pass -p:EngramNativeDir=...).\n" + error);
    }
}

/// <summary>Small helpers shared by the tests.</summary>
internal static class TestSupport
{
    /// <summary>Skips the test (Assert.Ignore) with the reason when <paramref name="backend"/> cannot run here.</summary>
    public static void RequireBackend(EngramBackend backend)
    {
        var probe = BackendSelector.Probe(backend);
        if (!probe.Available) Assert.Ignore($"{backend} is not available on this machine: {probe.Detail}");
    }

    /// <summary>Skips the test when <paramref name="backend"/> CAN run here (tests of the "unavailable" path).</summary>
    public static void RequireMissing(EngramBackend backend)
    {
        var probe = BackendSelector.Probe(backend);
        if (probe.Available) Assert.Ignore($"{backend} is available here ({probe.Detail})");
    }

    /// <summary>Random floats in [-scale, scale].</summary>
    public static float[] Uniform(Random rng, int count, double scale = 1) =>
        Enumerable.Range(0, count).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();

    /// <summary>A small f32 problem with some ignored targets.</summary>
    public sealed class Problem
    {
        public Problem(int n, int d, int v, int seed = 1, bool bias = true, int ignoreEvery = 3)
        {
            var rng = new Random(seed);
            N = n;
            D = d;
            V = v;
            E = Uniform(rng, n * d);
            C = Uniform(rng, v * d, 2 / Math.Sqrt(d));
            Bias = bias ? Uniform(rng, v, 0.5) : [];
            Targets = Enumerable.Range(0, n).Select(i => ignoreEvery > 0 && i % ignoreEvery == ignoreEvery - 1 ? -100L : rng.Next(v)).ToArray();
        }

        public int N { get; }
        public int D { get; }
        public int V { get; }
        public float[] E { get; }
        public float[] C { get; }
        public float[] Bias { get; }
        public long[] Targets { get; set; }
        public CceShape Shape => new(N, D, V);

        public CceInputs<float, long> Inputs => new(Shape, E, C, Targets, Bias);

        public CceReferenceProblem Reference => new(N, D, V, E.Select(x => (double)x).ToArray(),
            C.Select(x => (double)x).ToArray(), Bias.Length == 0 ? null : Bias.Select(x => (double)x).ToArray(), Targets);
    }

    /// <summary>Asserts |actual - expected| ≤ atol + rtol·|expected| element-wise, naming the first bad index.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol = 1e-4,
        double rtol = 1e-4, string what = "")
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = atol + rtol * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}[{i}] = {actual[i]}, expected {expected[i]} ± {tol}");
        }
    }
}
