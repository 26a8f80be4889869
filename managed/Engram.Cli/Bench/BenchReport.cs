using System.Text.Json;

namespace Engram.Cli.Bench;

// The benchmark JSON of docs/bench-json.md (schemas "engram-bench/1", "/2" and "/3"), written
// by the native driver engram-bench and the PyTorch peer scripts. Optional fields are nullable.

/// <summary>One benchmark run.</summary>
public sealed record BenchReport
{
    /// <summary>"engram-bench/1", "engram-bench/2" or "engram-bench/3".</summary>
    public string? Schema { get; init; }

    /// <summary>v2: the op family benchmarked ("cce"); null in v1.</summary>
    public string? Op { get; init; }

    /// <summary>v2: the benchmark's shape (named dimensions); null in v1.</summary>
    public BenchShape? Shape { get; init; }

    /// <summary>v2: the input dtype of the run.</summary>
    public string? Dtype { get; init; }

    /// <summary>v2: cpu or cuda.</summary>
    public string? Backend { get; init; }

    /// <summary>v2: why the run failed (its results were wrong: then there are no cases); null when it did not.</summary>
    public string? Error { get; init; }

    /// <summary>When the run was made (ISO 8601 UTC).</summary>
    public string? CreatedUtc { get; init; }

    /// <summary>libengram version of the run.</summary>
    public string? EngramVersion { get; init; }

    /// <summary>The machine.</summary>
    public BenchMachine? Machine { get; init; }

    /// <summary>v3: how the driver was built (commit, compiler, flags).</summary>
    public BenchBuild? Build { get; init; }

    /// <summary>v3: one line per case whose spread was too large to trust.</summary>
    public List<string>? Warnings { get; init; }

    /// <summary>v2+: the worker-thread setting of the run (0 = all cores).</summary>
    public int? Threads { get; init; }

    /// <summary>v3: how repetitions were chosen (min/max reps, time budget, target spread).</summary>
    public JsonElement? Repetitions { get; init; }

    /// <summary>
    /// The threads the cases ran on: the run's setting, or every core (machine.cpu_threads) when it was 0 or absent;
    /// null when neither is known.
    /// </summary>
    public int? EffectiveThreads => Threads is > 0 ? Threads : Machine?.CpuThreads;

    /// <summary>This machine's measured limits.</summary>
    public BenchLimits? Limits { get; init; }

    /// <summary>What the inputs looked like.</summary>
    public BenchInputs? Inputs { get; init; }

    /// <summary>The measured cases.</summary>
    public List<BenchCase> Cases { get; init; } = [];
}

/// <summary>The machine of a run.</summary>
public sealed record BenchMachine
{
    /// <summary>CPU name.</summary>
    public string? Cpu { get; init; }

    /// <summary>Worker threads.</summary>
    public int? CpuThreads { get; init; }

    /// <summary>Vector ISA in use.</summary>
    public string? Isa { get; init; }

    /// <summary>GPU name (a string, an object, or null).</summary>
    public JsonElement? Gpu { get; init; }

    /// <summary>v3: physical cores.</summary>
    public int? Cores { get; init; }

    /// <summary>v3: cache sizes by level ("l1d", "l2", "l3"), bytes.</summary>
    public Dictionary<string, long>? Caches { get; init; }

    /// <summary>v3: the ISA extensions the CPU reports (avx2, avx512f, ...).</summary>
    public List<string>? IsaFlags { get; init; }

    /// <summary>
    /// What makes two runs "the same machine" for absolute times: CPU model, threads, ISA, GPU (and, when both runs
    /// have them, cores and caches).
    /// </summary>
    public string Identity =>
        string.Join(" | ", Cpu ?? "?", CpuThreads?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?", Isa ?? "?",
            Gpu is { } g && g.ValueKind != JsonValueKind.Null ? g.ToString() : "no GPU");
}

/// <summary>v3: how the benchmark driver was built.</summary>
public sealed record BenchBuild
{
    /// <summary>git commit of the source (short hash, "+dirty" when modified), or null.</summary>
    public string? Commit { get; init; }

    /// <summary>Commit time (ISO 8601), for ordering runs in `engram history`.</summary>
    public string? CommitUtc { get; init; }

    /// <summary>Compiler and version.</summary>
    public string? Compiler { get; init; }

    /// <summary>Compile flags and build type.</summary>
    public string? Flags { get; init; }

    /// <summary>CUDA toolkit version, or null without CUDA.</summary>
    public string? Cuda { get; init; }
}

/// <summary>The machine's measured limits, probed in the same run.</summary>
public sealed record BenchLimits
{
    /// <summary>Memory bandwidth in GB/s.</summary>
    public double? BandwidthGbs { get; init; }

    /// <summary>How bandwidth was measured.</summary>
    public string? BandwidthProbe { get; init; }

    /// <summary>GEMM throughput in GFLOP/s.</summary>
    public double? GemmGflops { get; init; }

    /// <summary>How GEMM throughput was measured.</summary>
    public string? GemmProbe { get; init; }
}

/// <summary>The benchmark inputs.</summary>
public sealed record BenchInputs
{
    /// <summary>"peaked" (trained-model-like softmax) or "uniform".</summary>
    public string? Kind { get; init; }

    /// <summary>Mean softmax entropy per token, nats.</summary>
    public double? MeanEntropyNats { get; init; }
}

/// <summary>
/// A problem shape: named dimensions ({"n": 4096, "v": 32768, "d": 1024} for CCE). Two shapes are equal when
/// they have the same dimensions with the same values.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(BenchShapeConverter))]
public sealed record BenchShape
{
    /// <summary>The dimensions by name, in name order.</summary>
    public SortedDictionary<string, long> Dims { get; init; } = new(StringComparer.Ordinal);

    /// <summary>A dimension's value, or null when the shape has no such dimension.</summary>
    public long? this[string name] => Dims.TryGetValue(name, out long v) ? v : null;

    /// <summary>A shape from name/value pairs.</summary>
    public static BenchShape Of(params (string Name, long Value)[] dims)
    {
        var shape = new BenchShape();
        foreach (var (name, value) in dims) shape.Dims[name] = value;
        return shape;
    }

    /// <inheritdoc/>
    public bool Equals(BenchShape? other) => other is not null && Dims.SequenceEqual(other.Dims);

    /// <inheritdoc/>
    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    /// <summary>"4096x32768x1024" for CCE's n, v, d; "name=value,..." for other families.</summary>
    public override string ToString() =>
        Dims.Count == 3 && this["n"] is { } n && this["v"] is { } v && this["d"] is { } d
            ? $"{n}x{v}x{d}"
            : string.Join(",", Dims.Select(kv => $"{kv.Key}={kv.Value}"));
}

/// <summary>Reads and writes a <see cref="BenchShape"/> as a JSON object of integers.</summary>
public sealed class BenchShapeConverter : System.Text.Json.Serialization.JsonConverter<BenchShape>
{
    /// <inheritdoc/>
    public override BenchShape Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("shape must be an object of named dimensions");
        var shape = new BenchShape();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string name = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value))
                throw new JsonException($"shape dimension '{name}' must be an integer");
            shape.Dims[name] = value;
        }
        return shape;
    }

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, BenchShape value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (name, v) in value.Dims) writer.WriteNumber(name, v);
        writer.WriteEndObject();
    }
}

/// <summary>One measured case.</summary>
public sealed record BenchCase
{
    /// <summary>cce_forward or cce_forward_backward.</summary>
    public string? Op { get; init; }

    /// <summary>engram, naive, or a peer (torch).</summary>
    public string? Impl { get; init; }

    /// <summary>exact, fused, filtered; materialized for naive and peers.</summary>
    public string? Variant { get; init; }

    /// <summary>cpu or cuda.</summary>
    public string? Backend { get; init; }

    /// <summary>Named dimensions (n, v, d for CCE).</summary>
    public BenchShape? Shape { get; init; }

    /// <summary>f32, f16, bf16.</summary>
    public string? Dtype { get; init; }

    /// <summary>Timed repetitions.</summary>
    public int? Reps { get; init; }

    /// <summary>Median wall time per call, ms.</summary>
    public double? MedianMs { get; init; }

    /// <summary>v3: every timed repetition, ms, in the order run.</summary>
    public List<double>? SamplesMs { get; init; }

    /// <summary>v3: median absolute deviation of the samples, ms.</summary>
    public double? MadMs { get; init; }

    /// <summary>v3: true when the driver judged the spread too large to trust (another process took a core).</summary>
    public bool? Noisy { get; init; }

    /// <summary>v3: the case's own thread count when it differs from the run's (else null).</summary>
    public int? Threads { get; init; }

    /// <summary>Fastest call, ms.</summary>
    public double? MinMs { get; init; }

    /// <summary>Slowest call, ms.</summary>
    public double? MaxMs { get; init; }

    /// <summary>Peak memory allocated beyond inputs and outputs.</summary>
    public double? PeakExtraBytes { get; init; }

    /// <summary>Max absolute error against a float64 reference on sampled tokens.</summary>
    public double? MaxAbsErr { get; init; }

    /// <summary>Floating-point operations per call.</summary>
    public double? Flops { get; init; }

    /// <summary>Bytes moved per call.</summary>
    public double? BytesMoved { get; init; }

    /// <summary>Achieved GFLOP/s.</summary>
    public double? Gflops { get; init; }

    /// <summary>Achieved GB/s.</summary>
    public double? Gbs { get; init; }

    /// <summary>gflops / limits.gemm_gflops.</summary>
    public double? FracOfGemmProbe { get; init; }

    /// <summary>gbs / limits.bandwidth_gbs.</summary>
    public double? FracOfBandwidth { get; init; }

    /// <summary>median_ms / the naive case's median_ms.</summary>
    public double? VsNaive { get; init; }

    /// <summary>Gradient filter threshold used.</summary>
    public double? FilterEps { get; init; }

    /// <summary>Fraction of logit blocks the filter skipped.</summary>
    public double? BlocksSkippedFrac { get; init; }

    /// <summary>The key `engram compare` matches cases on: (op, impl, variant, backend, shape, dtype).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Key => $"{Op} {Impl} {Variant ?? "-"} {Backend} {Shape} {Dtype}";
}
