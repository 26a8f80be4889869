using Engram.Cli;

namespace Engram.Tests;

/// <summary>`engram history`: a PNG and a Markdown summary from recorded runs (TestData/history: copies of perf/results).</summary>
public sealed class HistoryTests
{
    private static string Data(string name) => Path.Combine(TestContext.CurrentContext.TestDirectory, "TestData", "history", name);

    private static (int Code, string Out, string Err) Engram(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = EngramCli.Run(args, new CliOutput(stdout, stderr, terminal: false));
        TestContext.Out.WriteLine(stdout.ToString());
        TestContext.Out.WriteLine(stderr.ToString());
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"engram-history-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Test]
    public void WritesAPngAndAMarkdownSummaryOverRuns()
    {
        string dir = TempDir();
        try
        {
            string png = Path.Combine(dir, "history.png");
            var (code, output, _) = Engram("history", Data("good"), "--out", png);
            Assert.That(code, Is.EqualTo(ExitCodes.Ok));
            byte[] bytes = File.ReadAllBytes(png);
            Assert.That(bytes.Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "a PNG");
            Assert.That(bytes.Length, Is.GreaterThan(10_000), "a real picture, not an empty canvas");
            string md = File.ReadAllText(Path.Combine(dir, "history.md"));
            // The f32 exact forward was run twice (v1 on 11-27, v2 on 12-02): two points, its speed-up from each run.
            Assert.That(md, Does.Contain("| `cce_forward exact cpu 4096x32768x1024 f32 t=2` | 2 |"));
            Assert.That(md, Does.Contain("1.26x → 4.13x"), "naive/engram of the 11-27 run (1637.5/1304.4) and the 12-02 run (3182.5/770.7)");
            Assert.That(md, Does.Contain("GFLOP/s"));
            Assert.That(output, Does.Contain("skipped").And.Contain("engram-compare/1"), "other documents are skipped, and said so");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void OpFilterKeepsOnlyThatOp()
    {
        string dir = TempDir();
        try
        {
            string png = Path.Combine(dir, "fwd.png"), md = Path.Combine(dir, "fwd-summary.md");
            Assert.That(Engram("history", Data("good"), "--op", "cce_forward", "--out", png, "--markdown", md).Code, Is.EqualTo(ExitCodes.Ok));
            string text = File.ReadAllText(md);
            Assert.That(text, Does.Contain("cce_forward exact").And.Not.Contain("cce_forward_backward"));
            Assert.That(Engram("history", Data("good"), "--op", "no_such_op", "--out", png).Code, Is.EqualTo(ExitCodes.Environment));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestCase("truncated", "malformed or truncated")]
    [TestCase("wrong-version", "engram-bench/99")]
    [TestCase("no-such-dir", "no such directory")]
    public void RejectsBadInputWithExitTwoAndNoStackTrace(string dir, string message)
    {
        string tmp = TempDir();
        try
        {
            var (code, output, err) = Engram("history", Data(dir), "--out", Path.Combine(tmp, "h.png"));
            Assert.That(code, Is.EqualTo(ExitCodes.Environment));
            Assert.That(err, Does.Contain(message));
            Assert.That(err + output, Does.Not.Contain("   at "));
            Assert.That(File.Exists(Path.Combine(tmp, "h.png")), Is.False);
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
    }
}
