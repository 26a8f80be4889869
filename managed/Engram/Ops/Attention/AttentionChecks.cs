namespace Engram.Ops;

/// <summary>
/// The managed attention checks: span lengths against the cache's shape and the call's head and token
/// counts (null expected length when a count is ≤ 0 or overflows: libengram rejects the count itself).
/// </summary>
internal static class AttentionChecks
{
    /// <summary>Elements of k or v: KvHeads·tokens·HeadDim.</summary>
    public static long? Kv(KvCacheConfig c, long tokens) => ScanChecks.Elements(c.KvHeads, tokens, c.HeadDim);

    /// <summary>Elements of q or out: qHeads·tokens·HeadDim.</summary>
    public static long? Queries(KvCacheConfig c, long qHeads, long tokens = 1) => ScanChecks.Elements(qHeads, tokens, c.HeadDim);

    public static void Length(long actual, long? expected, string name, string what) =>
        CceChecks.Length(actual, expected, name, what);
}
