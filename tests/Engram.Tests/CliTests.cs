using System.Text.Json;
using Engram.Cli;
using Engram.Cli.Bench;

namespace Engram.Tests;

/// <summary>The `engram` command: exit codes, tables, JSON, benchmark parsing and comparison.</summary>
[NonParallelizable] // some tests set ENGRAM_BENCH
public sealed class CliTests
{
    private static string Data(string name) => Path.Combine(TestContext.CurrentContext.TestDirectory, "TestData", name);

    private static (int Code, string Out, string Err) Engram(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = EngramCli.Run(args, new CliOutput(stdout, stderr, terminal: false));
        TestContext.Out.WriteLine(stdout.ToString());
        TestContext.Out.WriteLine(stderr.ToString());
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public void VerifyPassesOnTheDefaultBackend()
    {
        var (code, output, _) = Engram("verify", "--cases", "8");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Match(@"\b[1-9]\d* passed, 0 failed"));
    }

    [Test]
    public void VerifyOnNativeCpuRunsTheCaseSuitesThroughTheDriver()
    {
        RequireDriver();
        var (code, output, _) = Engram("verify", "cce_forward", "--backend", "cpu", "--cases", "3", "--seed", "2", "--json");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("verifier").GetString(), Is.EqualTo("engram-bench verify"));
        Assert.That(root.GetProperty("backend").GetString(), Is.EqualTo("native-cpu"));
        Assert.That(root.GetProperty("failed").GetInt32(), Is.Zero);
        var cases = root.GetProperty("cases").EnumerateArray().ToList();
        Assert.That(cases, Has.Count.EqualTo(3));
        Assert.That(cases.Select(c => c.GetProperty("op").GetString()), Is.All.EqualTo("cce_forward"));
        Assert.That(cases.Select(c => c.GetProperty("worst_ratio").GetDouble()), Is.All.LessThanOrEqualTo(1.0));
    }

    [Test]
    public void VerifyEveryOpOfTheFamilyAsTheTable()
    {
        RequireDriver();
        var (code, output, _) = Engram("verify", "cce", "--backend", "cpu", "--cases", "1");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Contain("5 passed, 0 failed"));
        foreach (string op in new[] { "cce_forward", "cce_backward", "cce_forward_backward", "cce_shard_forward", "cce_shard_combine" })
            Assert.That(output, Does.Contain(op));
    }

    [Test]
    public void VerifyOfAnUnknownOpIsAnEnvironmentError()
    {
        RequireDriver();
        var (code, _, err) = Engram("verify", "no_such_op", "--backend", "cpu");
        Assert.That(code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(err, Does.Contain("unknown op 'no_such_op'").And.Contain("cce_forward"));
        Assert.That(Engram("verify", "scan", "--backend", "ilgpu-cpu").Code, Is.EqualTo(ExitCodes.Environment));
    }

    [Test]
    public void VerifyJsonOnIlgpuCpu()
    {
        var (code, output, _) = Engram("verify", "--backend", "ilgpu-cpu", "--cases", "4", "--seed", "3", "--json");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("backend").GetString(), Is.EqualTo("ilgpu-cpu"));
        Assert.That(doc.RootElement.GetProperty("failed").GetInt32(), Is.Zero);
        Assert.That(doc.RootElement.GetProperty("cases").GetArrayLength(), Is.EqualTo(4));
    }

    [Test]
    public void VerifyOnAMissingBackendIsAnEnvironmentError()
    {
        TestSupport.RequireMissing(global::Engram.EngramBackend.NativeCuda);
        var (code, _, err) = Engram("verify", "--backend", "cuda");
        Assert.That(code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(err, Does.Contain("NativeCuda"));
    }

    [Test]
    public void UsageErrorsExitWith2()
    {
        Assert.That(Engram("frobnicate").Code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(Engram("verify", "--cases", "many").Code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(Engram("verify", "--backend", "tpu").Code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(Engram("bench", "cce", "--dtype", "f64").Code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(Engram("bench").Code, Is.EqualTo(ExitCodes.Environment), "bench needs an OP");
        Assert.That(Engram("verify", "--cases", "0").Code, Is.EqualTo(ExitCodes.Environment));
    }

    [Test]
    public void InfoJsonNamesTheLibraryAndTheAutoBackend()
    {
        var (code, output, _) = Engram("info", "--json");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("version").GetString(), Is.EqualTo(EngramLibrary.Version));
        Assert.That(root.GetProperty("abi_version").GetInt32(), Is.EqualTo(EngramLibrary.HeaderAbiVersion));
        Assert.That(root.GetProperty("auto_backend").GetString(), Is.Not.Empty);
        Assert.That(root.GetProperty("backends").GetArrayLength(), Is.EqualTo(4));
        Assert.That(root.GetProperty("warnings").GetArrayLength(), Is.Zero);
    }

    [Test]
    public void InfoTableSaysWhatAutoPicks()
    {
        var expected = global::Engram.Backends.BackendSelector.Resolve(global::Engram.EngramBackend.Auto);
        var (code, output, _) = Engram("info");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Contain($"picks {BackendNames.Name(expected)} (order"));
    }

    [Test]
    public void BenchJsonParses()
    {
        var r = BenchJson.Load(Data("bench-sample.json"));
        Assert.That(r.Schema, Is.EqualTo(BenchJson.SchemaV1));
        Assert.That(r.Op, Is.Null, "v1 has no top-level op");
        Assert.That(r.Cases, Has.Count.EqualTo(6));
        Assert.That(r.Limits!.GemmGflops, Is.EqualTo(196.9));
        Assert.That(r.Inputs!.MeanEntropyNats, Is.EqualTo(1.9));
        var fwd = r.Cases.Single(c => c.Op == "cce_forward" && c.Impl == "engram");
        Assert.That(fwd.Shape, Is.EqualTo(BenchShape.Of(("n", 4096), ("v", 32768), ("d", 1024))));
        Assert.That(fwd.Shape!.ToString(), Is.EqualTo("4096x32768x1024"));
        Assert.That(fwd.PeakExtraBytes, Is.EqualTo(3145728));
        Assert.That(fwd.VsNaive, Is.EqualTo(1.034).Within(1e-9));
        Assert.That(r.Cases.Single(c => c.Variant == "filtered").BlocksSkippedFrac, Is.EqualTo(0.62));
    }

    [Test]
    public void BenchJsonV2Parses()
    {
        var r = BenchJson.Load(Data("bench-v2-sample.json"));
        Assert.That(r.Schema, Is.EqualTo(BenchJson.SchemaV2));
        Assert.That(r.Op, Is.EqualTo("cce"));
        Assert.That(r.Shape!["v"], Is.EqualTo(32768));
        Assert.That(r.Shape["t"], Is.Null);
        Assert.That(r.Cases, Has.Count.EqualTo(6));
        Assert.That(r.Cases.Select(c => c.Shape), Is.All.EqualTo(r.Shape));
    }

    [Test]
    public void BenchJsonOfAFailedRunIsAnError()
    {
        var e = Assert.Throws<BenchFormatException>(() => BenchJson.Load(Data("bench-v2-failed.json")))!;
        Assert.That(e.Message, Does.Contain("failed").And.Contain("out of tolerance"));
    }

    [Test]
    public void BenchShapesOfOtherFamiliesKeepTheirNames()
    {
        var r = BenchJson.Parse("""
            {"schema": "engram-bench/2", "op": "scan", "shape": {"t": 4096, "h": 8},
             "cases": [{"op": "scan_forward", "impl": "engram", "backend": "cpu", "shape": {"t": 4096, "h": 8},
                        "dtype": "f32", "median_ms": 1.5, "min_ms": 1.4, "max_ms": 1.6, "peak_extra_bytes": 0,
                        "max_abs_err": 1e-6}]}
            """);
        Assert.That(r.Cases[0].Shape!.ToString(), Is.EqualTo("h=8,t=4096"));
        Assert.That(r.Cases[0].Key, Does.Contain("h=8,t=4096"));
        Assert.Throws<BenchFormatException>(() => BenchJson.Parse("""{"schema": "engram-bench/2", "shape": {"n": "x"}, "cases": []}"""));
    }

    [Test]
    public void CompareReadsV1AgainstV2()
    {
        var (code, output, _) = Engram("compare", Data("bench-sample.json"), Data("bench-v2-sample.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Mismatch));
        Assert.That(output, Does.Contain("1 regression(s)").And.Contain("6 matched case(s)"));
        Assert.That(Engram("compare", Data("bench-v2-sample.json"), Data("bench-v2-sample.json")).Code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(Engram("compare", Data("bench-sample.json"), Data("bench-v2-failed.json")).Code, Is.EqualTo(ExitCodes.Environment));
    }

    [Test]
    public void BenchJsonNamesAMissingRequiredField()
    {
        var e = Assert.Throws<BenchFormatException>(() => BenchJson.Load(Data("bench-missing-field.json")))!;
        Assert.That(e.Message, Does.Contain("cases[1]").And.Contain("median_ms"));
    }

    [Test]
    public void BenchJsonRejectsAnotherSchemaAndBadJson()
    {
        Assert.Throws<BenchFormatException>(() => BenchJson.Parse("""{"schema": "other/2", "cases": []}"""));
        Assert.Throws<BenchFormatException>(() => BenchJson.Parse("""{"schema": "engram-bench/4", "cases": []}"""));
        Assert.Throws<BenchFormatException>(() => BenchJson.Parse("{ not json"));
    }

    [Test]
    public void BenchRendersAnExistingFile()
    {
        var (code, output, _) = Engram("bench", "cce", "--from", Data("bench-sample.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Contain("CCE forward (loss)").And.Contain("1.03x").And.Contain("GEMM 196.9 GFLOP/s"));
        Assert.That(output, Does.Contain("62.0%"), "blocks skipped by the filter");
    }

    [Test]
    public void CompareDetectsARegression()
    {
        var (code, output, _) = Engram("compare", Data("bench-sample.json"), Data("bench-regressed.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Mismatch));
        Assert.That(output, Does.Contain("REGRESSED").And.Contain("1.250x").And.Contain("1 regression(s)"));
    }

    [Test]
    public void CompareWithinTheThresholdPasses()
    {
        Assert.That(Engram("compare", Data("bench-sample.json"), Data("bench-sample.json")).Code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(Engram("compare", Data("bench-sample.json"), Data("bench-regressed.json"), "--threshold", "0.3").Code,
            Is.EqualTo(ExitCodes.Ok));
    }

    [Test]
    public void CompareJsonListsEveryCase()
    {
        var (code, output, _) = Engram("compare", Data("bench-sample.json"), Data("bench-regressed.json"), "--json");
        Assert.That(code, Is.EqualTo(ExitCodes.Mismatch));
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("regressions").GetInt32(), Is.EqualTo(1));
        var statuses = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("status").GetString()).ToList();
        Assert.That(statuses, Has.Exactly(1).EqualTo("regressed").And.Exactly(1).EqualTo("improved"));
    }

    [Test]
    public void CompareOfUnreadableFilesIsAnEnvironmentError()
    {
        Assert.That(Engram("compare", Data("bench-sample.json"), Data("no-such.json")).Code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(Engram("compare", Data("bench-sample.json"), Data("bench-missing-field.json")).Code, Is.EqualTo(ExitCodes.Environment));
    }

    [Test]
    public void ComparisonMatchesOnTheFullKey()
    {
        var old = BenchJson.Load(Data("bench-sample.json"));
        var renamed = old with { Cases = old.Cases.Select(c => c with { Dtype = "bf16" }).ToList() };
        var changes = BenchComparison.Compare(old, renamed, 0.1).Cases;
        Assert.That(changes.Count(c => c.Status == ChangeStatus.Added), Is.EqualTo(6));
        Assert.That(changes.Count(c => c.Status == ChangeStatus.Removed), Is.EqualTo(6));
    }

    [Test]
    public void BenchRunsTheDriverWithItsCommandLine()
    {
        string driver = FakeDriver(out string argsFile);
        using var env = new EnvironmentVariable(BenchDriver.EnvironmentVariable, driver);
        string json = Path.Combine(Path.GetTempPath(), $"engram-test-{Guid.NewGuid():N}.json");
        var (code, output, _) = Engram("bench", "cce", "--backend", "cpu", "--n", "64", "--v", "512", "--d", "32", "--reps", "2",
            "--json", json);
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(File.ReadAllText(argsFile).Trim(),
            Is.EqualTo($"bench cce --backend cpu --shape n=64,v=512,d=32 --dtype f32 --reps 2 --json {json}"));
        Assert.That(output, Does.Contain("CCE forward + backward"));
        Assert.That(File.Exists(json), Is.True, "--json keeps the results");
        File.Delete(json);
    }

    [Test]
    public void BenchOfAnUnknownOpListsTheDriversOps()
    {
        string driver = FakeDriver(out string argsFile);
        using var env = new EnvironmentVariable(BenchDriver.EnvironmentVariable, driver);
        var (code, _, err) = Engram("bench", "scan", "--quick");
        Assert.That(code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(err, Does.Contain("unknown op 'scan'").And.Contain("cce"));
        Assert.That(File.Exists(argsFile), Is.False, "nothing was benchmarked");
    }

    [Test]
    public void BenchReportsAFailingDriver()
    {
        string driver = FakeDriver(out _, exitCode: 3);
        using var env = new EnvironmentVariable(BenchDriver.EnvironmentVariable, driver);
        var (code, _, err) = Engram("bench", "cce", "--quick");
        Assert.That(code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(err, Does.Contain("exited with code 3"));
    }

    [Test]
    public void MissingDriverMessageSaysHowToBuildIt()
    {
        using var env = new EnvironmentVariable(BenchDriver.EnvironmentVariable, ""); // unset: the search message
        string message = BenchDriver.NotFoundMessage(["/a/engram-bench", "/b/engram-bench"]);
        Assert.That(message, Does.Contain("/a/engram-bench").And.Contain("./build.sh").And.Contain(BenchDriver.EnvironmentVariable));
    }

    [Test]
    public void RunVerifiesBenchmarksAndSummarizes()
    {
        string driver = FakeDriver(out string argsFile);
        using var env = new EnvironmentVariable(BenchDriver.EnvironmentVariable, driver);
        var (code, output, _) = Engram("run", "--quick");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Match(@"\b[1-9]\d* passed, 0 failed"));
        Assert.That(File.ReadAllText(argsFile), Does.Contain("--shape n=1024,v=8192,d=512"));
        Assert.That(output, Does.Contain("summary").And.Contain("matched the float64 reference"));
        Assert.That(output, Does.Contain("cce_forward (exact, cpu, 4096x32768x1024, f32)").And.Contain("171x less extra memory"));
    }

    private static void RequireDriver()
    {
        if (BenchDriver.Find(out var tried) is null)
            Assert.Ignore("engram-bench is not built here: " + string.Join(", ", tried));
    }

    // A stand-in for engram-bench: `list` prints the recorded list of a real driver, `verify` copies a recorded
    // verify JSON; a benchmark records its arguments and copies the sample JSON to --json.
    private static string FakeDriver(out string argsFile, int exitCode = 0)
    {
        if (OperatingSystem.IsWindows()) Assert.Ignore("the fake driver is a shell script");
        string dir = Path.Combine(Path.GetTempPath(), $"engram-fake-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        argsFile = Path.Combine(dir, "args.txt");
        string script = Path.Combine(dir, "engram-bench");
        File.WriteAllText(script, $"""
            #!/bin/sh
            if [ "$1" = "list" ]; then cat '{Data("bench-list.json")}'; exit 0; fi
            verify=""
            [ "$1" = "verify" ] && verify=1
            [ -z "$verify" ] && echo "$@" > '{argsFile}'
            out=""
            while [ $# -gt 0 ]; do [ "$1" = "--json" ] && out="$2"; shift; done
            if [ -n "$verify" ]; then cp '{Data("verify-sample.json")}' "$out"; exit 0; fi
            echo "fake engram-bench: measuring"
            cp '{Data("bench-sample.json")}' "$out"
            exit {exitCode}
            """.Replace("\r\n", "\n", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return script;
    }

    [Test]
    public void AnExplicitDriverThatDoesNotExistIsAnErrorNotAFallback()
    {
        using var env = new EnvironmentVariable(BenchDriver.EnvironmentVariable, "/nonexistent/engram-bench");
        var (code, _, err) = Engram("verify", "--backend", "cpu");
        Assert.That(code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(err, Does.Contain("ENGRAM_BENCH names /nonexistent/engram-bench, which does not exist"));
        Assert.That(BenchDriver.Candidates(), Is.EqualTo(new[] { "/nonexistent/engram-bench" }));
    }

    private sealed class EnvironmentVariable : IDisposable
    {
        private readonly string _name;
        private readonly string? _saved;

        public EnvironmentVariable(string name, string value)
        {
            _name = name;
            _saved = Environment.GetEnvironmentVariable(name);
            Environment.SetEnvironmentVariable(name, value);
        }

        public void Dispose() => Environment.SetEnvironmentVariable(_name, _saved);
    }
}
