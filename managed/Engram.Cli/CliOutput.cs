using Spectre.Console;

namespace Engram.Cli;

/// <summary>
/// Where a command writes: <see cref="Console"/> for people (tables, colours on a terminal),
/// <see cref="Out"/> for machine output (JSON), <see cref="Error"/> for diagnostics.
/// </summary>
public sealed class CliOutput
{
    /// <summary>Creates an output over writers; colours only when <paramref name="terminal"/> is true.</summary>
    public CliOutput(TextWriter output, TextWriter error, bool terminal)
    {
        Out = output;
        Error = error;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!terminal) Console.Profile.Width = 200; // a log or a pipe: do not wrap table rows at 80 columns
    }

    /// <summary>Output for the process's own stdout/stderr.</summary>
    public static CliOutput ForProcess() =>
        new(System.Console.Out, System.Console.Error, !System.Console.IsOutputRedirected);

    /// <summary>Human-readable output.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>Raw standard output (JSON).</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error.</summary>
    public TextWriter Error { get; }

    /// <summary>Writes a plain line of text to the human console (no markup parsing).</summary>
    public void Line(string text = "") => Console.WriteLine(text);

    /// <summary>Writes a warning.</summary>
    public void Warn(string text) => Console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(text)}");

    /// <summary>Writes an error to stderr.</summary>
    public void Fail(string text) => Error.WriteLine("engram: " + text);
}
