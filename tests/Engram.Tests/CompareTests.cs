using System.Text.Json;
using Engram.Cli;
using Engram.Cli.Bench;

namespace Engram.Tests;

/// <summary>
/// `engram compare`: the noise-aware regression gate on recorded runs (TestData/compare: real runs from perf/results and
/// files derived from them by make_compare_data.py, each saying how in "derived_from").
/// </summary>
public sealed class CompareTests
{
    private static string Data(string name) => Path.Combine(TestContext.CurrentContext.TestDirectory, "TestData", "compare", name);

    private static (int Code, string Out, string Err) Engram(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = EngramCli.Run(args, new CliOutput(stdout, stderr, terminal: false));
        TestContext.Out.WriteLine(stdout.ToString());
        TestContext.Out.WriteLine(stderr.ToString());
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static JsonElement JsonReport(params string[] args)
    {
        var (_, output, _) = Engram([.. args, "--json"]);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    [Test]
    public void IdenticalRunsHaveNoRegression()
    {
        var (code, output, _) = Engram("compare", Data("base.json"), Data("base.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Contain("0 regression(s) in 5 judged engram case(s), 7 matched case(s)"));
    }

    [Test]
    public void ATwoFoldSlowdownIsARegression()
    {
        var (code, output, _) = Engram("compare", Data("base.json"), Data("slow-2x.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Mismatch));
        Assert.That(output, Does.Contain("5 regression(s)").And.Contain("2.000x").And.Contain("REGRESSED"));
        // Even a 60% tolerance does not hide a 2x slowdown; a 150% tolerance does.
        Assert.That(Engram("compare", Data("base.json"), Data("slow-2x.json"), "--tolerance", "60").Code, Is.EqualTo(ExitCodes.Mismatch));
        Assert.That(Engram("compare", Data("base.json"), Data("slow-2x.json"), "--tolerance", "150").Code, Is.EqualTo(ExitCodes.Ok));
    }

    [Test]
    public void BothFiguresAreJudgedOnTheSameMachine()
    {
        var report = JsonReport("compare", Data("base.json"), Data("slow-2x.json"));
        Assert.That(report.GetProperty("same_machine").GetBoolean(), Is.True);
        var exact = report.GetProperty("cases").EnumerateArray()
            .First(c => c.GetProperty("key").GetString()!.StartsWith("cce_forward engram exact", StringComparison.Ordinal));
        Assert.That(exact.GetProperty("time").GetProperty("ratio").GetDouble(), Is.EqualTo(2.0).Within(1e-9));
        Assert.That(exact.GetProperty("vs_baseline").GetProperty("ratio").GetDouble(), Is.EqualTo(2.0).Within(1e-9));
        Assert.That(exact.GetProperty("status").GetString(), Is.EqualTo("regressed"));
    }

    [Test]
    public void ASlowdownWithinTheRunsNoiseIsNotARegression()
    {
        // fused is 1.3x slower, beyond the 10% tolerance, but its repetitions spread by ~37% (robust sigma).
        var (code, output, _) = Engram("compare", Data("base.json"), Data("noisy-rerun.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Contain("(noisy)").And.Contain("spread above 5%"));
        var fused = JsonReport("compare", Data("base.json"), Data("noisy-rerun.json")).GetProperty("cases").EnumerateArray()
            .First(c => c.GetProperty("key").GetString()!.StartsWith("cce_forward_backward engram fused ", StringComparison.Ordinal));
        Assert.That(fused.GetProperty("time").GetProperty("ratio").GetDouble(), Is.EqualTo(1.3).Within(1e-6));
        Assert.That(fused.GetProperty("time").GetProperty("noise_band").GetDouble(), Is.GreaterThan(0.3));
        Assert.That(fused.GetProperty("noisy").GetBoolean(), Is.True);
    }

    [Test]
    public void NothingMatchedIsIncomparable()
    {
        var (code, output, err) = Engram("compare", Data("base.json"), Data("other-dtype.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(err, Does.Contain("no case matched"));
        Assert.That(output, Does.Contain("only in OLD").And.Contain("only in NEW"), "missing cases are listed");
        Assert.That(Engram("compare", Data("base.json"), Data("empty-cases.json")).Code, Is.EqualTo(ExitCodes.Environment));
    }

    [TestCase("truncated.json", "malformed or truncated")]
    [TestCase("not-bench.json", "not an engram-bench file")]
    [TestCase("wrong-version.json", "engram-bench/99")]
    [TestCase("no-such-file.json", "not found")]
    public void UnreadableFilesAreIncomparableWithAMessageNotAStackTrace(string file, string message)
    {
        foreach (var args in new[] { new[] { Data("base.json"), Data(file) }, new[] { Data(file), Data("base.json") } })
        {
            var (code, output, err) = Engram(["compare", .. args]);
            Assert.That(code, Is.EqualTo(ExitCodes.Environment));
            Assert.That(err, Does.Contain(message));
            Assert.That(err + output, Does.Not.Contain("   at "), "no stack trace");
        }
    }

    [Test]
    public void DifferentThreadCountsAreNotedAndDoNotMatch()
    {
        var (code, output, err) = Engram("compare", Data("base.json"), Data("one-thread.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(output, Does.Contain("thread counts differ: OLD ran on 2 thread(s), NEW on 1 thread(s)"));
        Assert.That(err, Does.Contain("no case matched"));
    }

    [Test]
    public void DifferentMachinesNeedCrossMachineAndThenJudgeOnlyInRunRatios()
    {
        var (code, _, err) = Engram("compare", Data("base.json"), Data("other-machine-slow-2x.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(err, Does.Contain("different machines").And.Contain("--cross-machine"));

        var report = JsonReport("compare", Data("base.json"), Data("other-machine-slow-2x.json"), "--cross-machine");
        Assert.That(report.GetProperty("exit_code").GetInt32(), Is.EqualTo(ExitCodes.Mismatch));
        Assert.That(report.GetProperty("same_machine").GetBoolean(), Is.False);
        foreach (var c in report.GetProperty("cases").EnumerateArray().Where(c => c.GetProperty("impl").GetString() == "engram"))
        {
            Assert.That(c.GetProperty("time").GetProperty("status").GetString(), Is.EqualTo("not_judged"));
            Assert.That(c.GetProperty("vs_baseline").GetProperty("status").GetString(), Is.EqualTo("regressed"));
        }
    }

    [Test]
    public void PeersAreReportedApartAndNeverCountAsEngramRegressions()
    {
        // The case: the PyTorch peer slowed 2x while every engram case got 2x faster.
        var (code, output, _) = Engram("compare", Data("peers-base.json"), Data("fast-2x-peer-slow.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Contain("slower (not gating)").And.Contain("in-run baseline and peers (not gating)"));
        Assert.That(output, Does.Contain("0 regression(s)"));
    }

    [Test]
    public void MarkdownAndJsonFilesAreWritten()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"engram-compare-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string md = Path.Combine(dir, "report.md"), json = Path.Combine(dir, "report.json");
            var (code, output, _) = Engram("compare", Data("peers-base.json"), Data("fast-2x-peer-slow.json"), "--tolerance", "5",
                "--markdown", md, "--json", json);
            Assert.That(code, Is.EqualTo(ExitCodes.Ok));
            Assert.That(output, Does.Contain("0 regression(s)"), "the table still goes to the terminal");
            string text = File.ReadAllText(md);
            Assert.That(text, Does.Contain("## engram compare").And.Contain("| case | old ms | new ms |")
                .And.Contain("### Engram cases (gating)").And.Contain("### In-run baseline and peers").And.Contain("tolerance 5%"));
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            Assert.That(doc.RootElement.GetProperty("schema").GetString(), Is.EqualTo("engram-compare/1"));
            Assert.That(doc.RootElement.GetProperty("regressions").GetInt32(), Is.Zero);
            Assert.That(doc.RootElement.GetProperty("tolerance_pct").GetDouble(), Is.EqualTo(5));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void BadToleranceIsAUsageError()
    {
        Assert.That(Engram("compare", Data("base.json"), Data("base.json"), "--tolerance", "-1").Code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(Engram("compare", Data("base.json"), Data("base.json"), "--tolerance", "10", "--threshold", "0.1").Code,
            Is.EqualTo(ExitCodes.Environment));
    }

    [Test]
    public void RobustSpreadUsesSamplesWhenPresent()
    {
        var withSamples = new BenchCase { MedianMs = 10, MinMs = 5, MaxMs = 40, SamplesMs = [9, 10, 11, 10, 40] };
        // MAD of {9,10,11,10,40} around 10 is 1: 1.4826 * 1 / 10; the 40 ms outlier does not widen it.
        Assert.That(BenchComparison.RelativeSpread(withSamples), Is.EqualTo(0.14826).Within(1e-9));
        var rangeOnly = new BenchCase { MedianMs = 10, MinMs = 9, MaxMs = 11 };
        Assert.That(BenchComparison.RelativeSpread(rangeOnly), Is.EqualTo(0.1).Within(1e-12));
    }
}
