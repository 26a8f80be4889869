using Engram.Cli;
using Engram.Cli.Bench;
using Engram.Cli.Commands;

namespace Engram.Tests;

/// <summary>`engram profile` (through the real engram-bench when it is built) and the repetition flags of `engram bench`.</summary>
[NonParallelizable] // shares the process's ENGRAM_BENCH with CliTests
public sealed class ProfileCommandTests
{
    private static (int Code, string Out, string Err) Engram(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = EngramCli.Run(args, new CliOutput(stdout, stderr, terminal: false));
        TestContext.Out.WriteLine(stdout.ToString());
        TestContext.Out.WriteLine(stderr.ToString());
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static void RequireDriver()
    {
        if (BenchDriver.Find(out var tried) is null)
            Assert.Ignore("engram-bench is not built here: " + string.Join(", ", tried));
    }

    [TestCase("cce", "backward", "profiling cce backward")]
    [TestCase("cce_forward_backward", null, "profiling cce forward_backward")]
    public void ProfileRunsThePlainLoop(string op, string? phase, string expected)
    {
        RequireDriver();
        string[] args = ["profile", op, "--iters", "2", "--shape", "n=33,v=515,d=17", "--dtype", "bf16"];
        if (phase is not null) args = [.. args, "--phase", phase];
        var (code, output, _) = Engram(args);
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Contain(expected).And.Contain("2 iterations in"));
    }

    [Test]
    public void ProfileRefusesBadRequests()
    {
        RequireDriver();
        Assert.That(Engram("profile", "cce_forward", "--phase", "backward").Code, Is.EqualTo(ExitCodes.Environment),
            "the phase contradicts the op");
        Assert.That(Engram("profile", "no_such_op").Code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(Engram("profile", "cce", "--phase", "sideways").Code, Is.EqualTo(ExitCodes.Environment));
        Assert.That(Engram("profile", "cce", "--iters", "0").Code, Is.EqualTo(ExitCodes.Environment));
    }

    [Test]
    public void BenchPassesTheRepetitionPolicyToTheDriver()
    {
        var request = new BenchSettings { Backend = "cpu", N = 64, V = 512, D = 32, Reps = 4, MaxReps = 12, BudgetSeconds = 2.5 }
            .ToRequest("/tmp/out.json");
        Assert.That(string.Join(' ', request.Arguments),
            Is.EqualTo("bench cce --backend cpu --shape n=64,v=512,d=32 --dtype f32 --reps 4 --max-reps 12 --budget 2.5 --json /tmp/out.json"));
        var plain = new BenchSettings { Backend = "cpu", N = 64, V = 512, D = 32, Reps = 4 }.ToRequest("/tmp/out.json");
        Assert.That(plain.Arguments, Has.No.Member("--max-reps").And.No.Member("--budget"), "--reps alone: exactly that many");
        var adaptive = new BenchSettings { Backend = "cpu", N = 64, V = 512, D = 32 }.ToRequest("/tmp/out.json");
        Assert.That(string.Join(' ', adaptive.Arguments), Does.Contain("--reps 5 --max-reps 20"), "neither given: until the spread settles");
    }
}
