
namespace Engram.Ops;

/// <summary>Size checks of host buffers, done before any native call (libengram cannot size a host pointer).</summary>
internal static class CceChecks
{
    public static void Length(long actual, long expected, string name, string what)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} has {actual} elements, expected {what} = {expected}", name);
    }

    public static void Optional(long actual, long expected, string name, string what)
    {
        if (actual != 0) Length(actual, expected, name, what);
    }

    public static void Unsharded(CceShape shape, string op, string alternative)
    {
        if (shape.IsSharded)
            throw new ArgumentException(
                $"{op} takes unsharded inputs, but the shape is a vocabulary shard ({shape}); use {alternative}", "inputs");
    }

    public static void NoOverlap(in CceHostProblem p, in CceHostGrads g)
    {
        ReadOnlySpan<byte> ge = g.E, gc = g.C, gb = g.Bias;
        Check(ge, "grads.E", p.E, "e");
        Check(ge, "grads.E", p.C, "c");
        Check(ge, "grads.E", p.Bias, "bias");
        Check(gc, "grads.C", p.E, "e");
        Check(gc, "grads.C", p.C, "c");
        Check(gc, "grads.C", p.Bias, "bias");
        Check(gb, "grads.Bias", p.E, "e");
        Check(gb, "grads.Bias", p.C, "c");
        Check(gb, "grads.Bias", p.Bias, "bias");
        Check(ge, "grads.E", gc, "grads.C");
        Check(ge, "grads.E", gb, "grads.Bias");
        Check(gc, "grads.C", gb, "grads.Bias");
    }

    private static void Check(ReadOnlySpan<byte> a, string an, ReadOnlySpan<byte> b, string bn)
    {
        if (!a.IsEmpty && !b.IsEmpty && a.Overlaps(b))
            throw new ArgumentException($"{an} overlaps {bn}: gradient outputs must not alias inputs or each other", an);
    }
}
