using System.Diagnostics;

namespace Engram.Tests;

/// <summary>
/// How a process finds libengram: ENGRAM_NATIVE_PATH, when set, is the only place looked at (a missing
/// or foreign library is a clear error, never a fallback to another copy); the ABI is checked at load.
/// Each case runs the CLI in a child process, because a process resolves the library once.
/// </summary>
public sealed class NativeLibraryResolverTests
{
    private static (int Code, string Output) EngramInfoWith(string? nativePath)
    {
        string cli = Path.Combine(TestContext.CurrentContext.TestDirectory, "engram.dll");
        Assert.That(File.Exists(cli), Is.True, $"the CLI is not beside the tests: {cli}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(cli);
        start.ArgumentList.Add("info");
        start.Environment.Remove("ENGRAM_NATIVE_PATH");
        if (nativePath is not null) start.Environment["ENGRAM_NATIVE_PATH"] = nativePath;
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd() + stderr.Result;
        process.WaitForExit();
        TestContext.Out.WriteLine(output);
        return (process.ExitCode, output);
    }

    [Test]
    public void AMissingExplicitPathIsAnErrorNotAFallback()
    {
        var (code, output) = EngramInfoWith("/nonexistent/engram/libengram.so");
        Assert.That(code, Is.Not.Zero);
        Assert.That(output, Does.Contain("ENGRAM_NATIVE_PATH names /nonexistent/engram/libengram.so, which does not exist"));
    }

    [Test]
    public void AnExplicitDirectoryWithoutTheLibraryIsAnError()
    {
        string dir = Directory.CreateTempSubdirectory("engram-empty-").FullName;
        try
        {
            var (code, output) = EngramInfoWith(dir);
            Assert.That(code, Is.Not.Zero);
            Assert.That(output, Does.Contain("which does not exist"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public void ALibraryThatIsNotLibengramIsRefused()
    {
        // A real shared library without the engram ABI (the C math library).
        string libm = new[] { "/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6" }
            .FirstOrDefault(File.Exists) ?? "";
        if (libm.Length == 0) Assert.Ignore("no libm.so.6 at the usual paths");
        var (code, output) = EngramInfoWith(libm);
        Assert.That(code, Is.Not.Zero);
        Assert.That(output, Does.Contain("is not libengram"));
    }

    [Test]
    public void TheLibraryBesideTheApplicationLoadsWithNoVariable()
    {
        var (code, output) = EngramInfoWith(null);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain("libengram"));
    }
}
