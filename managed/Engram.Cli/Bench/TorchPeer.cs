using System.Globalization;
using System.Text.Json.Nodes;

namespace Engram.Cli.Bench;

/// <summary>
/// The PyTorch peer of the CPU benchmark (perf/peers/torch_cce_cpu.py): F.linear + F.cross_entropy on the
/// same shape, timed in its own process, its cases merged into the report as impl "torch".
/// </summary>
public static class TorchPeer
{
    /// <summary>Environment variable naming the Python that has torch.</summary>
    public const string PythonVariable = "ENGRAM_PYTHON";

    private const string ScriptName = "torch_cce_cpu.py";

    /// <summary>The peer script: next to the CLI (peers/), or in the checkout the CLI was built from.</summary>
    public static string? FindScript()
    {
        string local = Path.Combine(AppContext.BaseDirectory, "peers", ScriptName);
        if (File.Exists(local)) return local;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "perf", "peers", ScriptName);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>A Python that imports torch: ENGRAM_PYTHON, Debian's /usr/bin/python3, then python3 on PATH.</summary>
    public static string? FindPython(TextWriter log)
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable(PythonVariable) is { Length: > 0 } env) candidates.Add(env);
        candidates.Add("/usr/bin/python3");
        candidates.Add("python3");
        foreach (string python in candidates.Distinct())
        {
            try
            {
                if (ChildProcess.Run(python, ["-c", "import torch"], log: null) == 0) return python;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // not installed: try the next one
            }
        }
        log.WriteLine("torch peer skipped: no python3 with torch found (set ENGRAM_PYTHON)");
        return null;
    }

    /// <summary>
    /// Appends the peer's cases to the driver's JSON file, with vs_naive and frac_of_gemm_probe derived from
    /// that run's naive cases and limits. Works on the JSON tree so that no field of the file is lost.
    /// </summary>
    public static void MergeInto(string jsonPath, IReadOnlyList<JsonObject> peerCases)
    {
        if (peerCases.Count == 0) return;
        var root = JsonNode.Parse(File.ReadAllText(jsonPath))!.AsObject();
        var cases = root["cases"]!.AsArray();
        double? gemm = root["limits"]?["gemm_gflops"]?.GetValue<double>();
        foreach (var peer in peerCases)
        {
            var naive = cases.OfType<JsonObject>().FirstOrDefault(c =>
                (string?)c["impl"] == "naive" && (string?)c["op"] == (string?)peer["op"] &&
                (string?)c["backend"] == (string?)peer["backend"] && (string?)c["dtype"] == (string?)peer["dtype"] &&
                JsonNode.DeepEquals(c["shape"], peer["shape"]));
            double median = peer["median_ms"]!.GetValue<double>();
            if (naive?["median_ms"]?.GetValue<double>() is { } baseMs and > 0) peer["vs_naive"] = median / baseMs;
            if (gemm is > 0 && peer["gflops"]?.GetValue<double>() is { } gflops) peer["frac_of_gemm_probe"] = gflops / gemm;
            cases.Add(peer.DeepClone());
        }
        File.WriteAllText(jsonPath, root.ToJsonString(Json.Options));
    }

    /// <summary>Runs the peer and returns its cases, or an empty list (with the reason logged) when it cannot run.</summary>
    public static IReadOnlyList<JsonObject> Run(BenchRequest request, int? threads, TextWriter log)
    {
        if (request.Backend != "cpu") return [];
        string? script = FindScript();
        if (script is null)
        {
            log.WriteLine($"torch peer skipped: {ScriptName} not found");
            return [];
        }
        string? python = FindPython(log);
        if (python is null) return [];
        string json = request.JsonPath + ".torch.json";
        var args = new List<string> { script };
        foreach (var (k, v) in new[] { ("--n", request.N), ("--v", request.V), ("--d", request.D), ("--reps", request.Reps) })
            args.AddRange([k, v.ToString(CultureInfo.InvariantCulture)]);
        if (threads is > 0) args.AddRange(["--threads", threads.Value.ToString(CultureInfo.InvariantCulture)]);
        args.AddRange(["--json", json]);
        log.WriteLine($"running the torch peer: {python} {string.Join(' ', args)}");
        int exit = ChildProcess.Run(python, args, log);
        if (exit != 0 || !File.Exists(json))
        {
            log.WriteLine($"torch peer failed (exit {exit}); continuing without it");
            return [];
        }
        BenchJson.Load(json);  // checks the peer followed the schema
        var cases = JsonNode.Parse(File.ReadAllText(json))!["cases"]!.AsArray().OfType<JsonObject>()
            .Select(c => c.DeepClone().AsObject()).ToList();
        File.Delete(json);
        return cases;
    }
}
