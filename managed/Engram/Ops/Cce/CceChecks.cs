namespace Engram.Ops;

/// <summary>
/// The only checks the managed CCE API makes: the length of each host span or device buffer against the
/// shape, because libengram receives bare pointers and cannot size them. Everything else (sizes, options,
/// shards, gradient dtype, aliasing) is libengram's to check; its ENGRAM_ERR_INVALID_ARGUMENT arrives as an
/// <see cref="EngramArgumentException"/>. When a shape is itself invalid (a size ≤ 0, a product that
/// overflows) there is no length to compare with: the spans go to libengram as they are, which rejects
/// the shape before it reads any of them.
/// </summary>
internal static class CceChecks
{
    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="actual"/> is <paramref name="expected"/> (skipped when null).</summary>
    public static void Length(long actual, long? expected, string name, string what)
    {
        if (expected is { } e && actual != e)
            throw new ArgumentException($"{name} has {actual} elements, expected {what} = {e}", name);
    }

    /// <summary>As <see cref="Length"/>, but an empty span (meaning "none") is accepted.</summary>
    public static void Optional(long actual, long? expected, string name, string what)
    {
        if (actual != 0) Length(actual, expected, name, what);
    }

    /// <summary>a·b, or null when a size is negative or the product overflows (then libengram rejects the shape).</summary>
    public static long? Elements(long a, long b = 1)
    {
        if (a < 0 || b < 0) return null;
        try
        {
            return checked(a * b);
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    /// <summary>Elements of the loss: n for reduction None, else 1.</summary>
    public static long? LossElements(long n, CceOptions o) => o.Reduction == CceReduction.None ? Elements(n) : 1;

    public static string LossWhat(CceOptions o) =>
        o.Reduction == CceReduction.None ? "n (reduction None)" : $"1 (reduction {o.Reduction})";

    /// <summary>
    /// Gradient outputs against the inputs and each other, for the ports that copy host spans (native CUDA
    /// staging, ILGPU): libengram sees only the device copies there, so it cannot find the overlap.
    /// </summary>
    public static void Disjoint(string op, in CceHostProblem p, in CceHostGrads g)
    {
        ReadOnlySpan<byte> ge = g.E, gc = g.C, gb = g.Bias;
        NoOverlap(op, ge, "grads.E", p.E, "e");
        NoOverlap(op, ge, "grads.E", p.C, "c");
        NoOverlap(op, ge, "grads.E", p.Bias, "bias");
        NoOverlap(op, gc, "grads.C", p.E, "e");
        NoOverlap(op, gc, "grads.C", p.C, "c");
        NoOverlap(op, gc, "grads.C", p.Bias, "bias");
        NoOverlap(op, gb, "grads.Bias", p.E, "e");
        NoOverlap(op, gb, "grads.Bias", p.C, "c");
        NoOverlap(op, gb, "grads.Bias", p.Bias, "bias");
        NoOverlap(op, ge, "grads.E", gc, "grads.C");
        NoOverlap(op, ge, "grads.E", gb, "grads.Bias");
        NoOverlap(op, gc, "grads.C", gb, "grads.Bias");
    }

    /// <summary>An <see cref="EngramArgumentException"/> (as libengram's require_disjoint) when two non-empty spans overlap.</summary>
    public static void NoOverlap(string op, ReadOnlySpan<byte> a, string an, ReadOnlySpan<byte> b, string bn)
    {
        if (!a.IsEmpty && !b.IsEmpty && a.Overlaps(b))
            throw new EngramArgumentException($"{op}: {an} overlaps {bn}: outputs must not alias inputs or each other");
    }
}
