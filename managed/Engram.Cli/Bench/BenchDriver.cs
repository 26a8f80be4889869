using System.Globalization;
using Engram.Native;

namespace Engram.Cli.Bench;

/// <summary>The arguments of one `engram-bench bench OP` run.</summary>
/// <param name="Backend">cpu or cuda.</param>
/// <param name="N">Tokens.</param>
/// <param name="V">Vocabulary.</param>
/// <param name="D">Hidden size.</param>
/// <param name="DType">f32, f16 or bf16.</param>
/// <param name="Reps">Timed repetitions.</param>
/// <param name="JsonPath">Where the driver writes its JSON.</param>
/// <param name="Threads">CPU worker threads (null: all cores).</param>
/// <param name="Variants">Comma-separated engram variants (null: all).</param>
/// <param name="Op">The op family (engram-bench list): cce.</param>
/// <param name="Scratch">Comma-separated CPU scratch budgets for extra fused runs, e.g. 8M,64M (null: none).</param>
/// <param name="MaxReps">Most timed repetitions per case while the spread settles (null: the driver's default).</param>
/// <param name="BudgetSeconds">Timed seconds per case before it stops repeating (null: the driver's default).</param>
/// <param name="Shape">Named dimensions for a family other than cce (engram-bench list), e.g. t=8192 (null: the family's default shapes).</param>
public sealed record BenchRequest(string Backend, long N, long V, long D, string DType, int Reps, string JsonPath,
                                  int? Threads = null, string? Variants = null, string Op = "cce", string? Scratch = null,
                                  int? MaxReps = null, double? BudgetSeconds = null, string? Shape = null)
{
    /// <summary>CCE's benchmark is rendered here (table, PyTorch peer); the other families' benchmarks print
    /// their own tables and write their own JSON (docs/bench-json.md), passed through.</summary>
    public bool IsCce => Op == "cce";

    /// <summary>The driver's command line: bench OP --backend B --shape n=N,v=V,d=D --dtype T --reps R [--threads T]
    /// [--variants LIST] --json OUT.</summary>
    public IReadOnlyList<string> Arguments
    {
        get
        {
            if (!IsCce)
            {
                // The family's own dimensions and dtypes (engram-bench bench OP --help): only what every family takes.
                var family = new List<string> { "bench", Op, "--backend", Backend, "--reps", I(Reps) };
                if (Shape is { Length: > 0 }) family.AddRange(["--shape", Shape]);
                if (Threads is > 0) family.AddRange(["--threads", I(Threads.Value)]);
                family.AddRange(["--json", JsonPath]);
                return family;
            }
            var args = new List<string>
            {
                "bench", Op, "--backend", Backend, "--shape", Shape ?? $"n={I(N)},v={I(V)},d={I(D)}", "--dtype", DType, "--reps", I(Reps),
            };
            if (Threads is > 0) args.AddRange(["--threads", I(Threads.Value)]);
            if (Variants is { Length: > 0 }) args.AddRange(["--variants", Variants]);
            if (Scratch is { Length: > 0 }) args.AddRange(["--scratch", Scratch]);
            if (MaxReps is { } m) args.AddRange(["--max-reps", I(Math.Max(m, Reps))]);
            if (BudgetSeconds is { } b) args.AddRange(["--budget", b.ToString(CultureInfo.InvariantCulture)]);
            args.AddRange(["--json", JsonPath]);
            return args;
        }
    }

    private static string I(long x) => x.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Finds and runs the native benchmark driver `engram-bench` (perf/native/, built beside libengram).</summary>
public static class BenchDriver
{
    /// <summary>Environment variable naming the driver executable.</summary>
    public const string EnvironmentVariable = "ENGRAM_BENCH";

    private static string FileName => OperatingSystem.IsWindows() ? "engram-bench.exe" : "engram-bench";

    /// <summary>
    /// Where the driver is looked for: ENGRAM_BENCH alone when it is set (a user who names a driver means that
    /// one: missing, it is an error, never a fallback to another copy); otherwise next to the CLI, the build
    /// directory.
    /// </summary>
    public static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env)
        {
            yield return env;
            yield break;
        }
        yield return Path.Combine(AppContext.BaseDirectory, FileName);
        if (NativeLibraryResolver.BuildNativeDir() is { } lib)
            yield return Path.GetFullPath(Path.Combine(lib, "..", "bin", FileName));
        // A checkout's default build directory, found by walking up from the CLI.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CMakeLists.txt")) && Directory.Exists(Path.Combine(dir.FullName, "native")))
            {
                yield return Path.Combine(dir.FullName, "build", "bin", FileName);
                break;
            }
        }
    }

    /// <summary>The driver's path, or null with the list of places tried.</summary>
    public static string? Find(out IReadOnlyList<string> tried)
    {
        var list = new List<string>();
        tried = list;
        foreach (string c in Candidates())
        {
            list.Add(c);
            if (File.Exists(c)) return c;
        }
        return null;
    }

    /// <summary>The message when the driver is missing.</summary>
    public static string NotFoundMessage(IReadOnlyList<string> tried) =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env
            ? $"{EnvironmentVariable} names {env}, which does not exist: point it at engram-bench, or unset it to use the driver beside the CLI."
            : "the native benchmark driver engram-bench was not found. Looked in:" + Environment.NewLine +
        string.Join(Environment.NewLine, tried.Select(t => "  - " + t)) + Environment.NewLine +
        "Build it with ./build.sh (it is built beside libengram as build/bin/engram-bench), " +
        $"or set {EnvironmentVariable} to its path.";

    /// <summary>
    /// Runs the driver, passing its progress output (stdout and stderr) to <paramref name="log"/>; returns
    /// its exit code.
    /// </summary>
    public static int Run(string driver, BenchRequest request, TextWriter log) =>
        ChildProcess.Run(driver, request.Arguments, log);

    /// <summary>
    /// The op families the driver can verify and benchmark (`engram-bench list --json -`), or null with the
    /// reason logged when it cannot say.
    /// </summary>
    public static IReadOnlyList<string>? Families(string driver, TextWriter log)
    {
        int rc = ChildProcess.Capture(driver, ["list", "--json", "-"], out string stdout, log);
        if (rc != 0)
        {
            log.WriteLine($"engram-bench list exited with code {rc}");
            return null;
        }
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(stdout);
            return doc.RootElement.GetProperty("suites").EnumerateArray()
                .Select(s => s.GetProperty("family").GetString() ?? "").Where(f => f.Length > 0).ToList();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            log.WriteLine($"engram-bench list: unreadable output: {e.Message}");
            return null;
        }
    }
}
