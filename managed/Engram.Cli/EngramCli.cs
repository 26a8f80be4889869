using System.CommandLine;
using Engram.Cli.Commands;

namespace Engram.Cli;

/// <summary>The `engram` command line: info, verify [OP], bench OP, compare, run.</summary>
public static class EngramCli
{
    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code (0 ok, 1 mismatch/regression, 2 usage/environment).</summary>
    public static int Run(string[] args, CliOutput output)
    {
        var root = Build(output);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) output.Fail(e.Message);
            output.Error.WriteLine("Run 'engram --help' for usage.");
            return ExitCodes.Environment;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration
            {
                Output = output.Out,
                Error = output.Error,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (ArgumentException e)
        {
            output.Fail(e.Message);
            return ExitCodes.Environment;
        }
    }

    private static RootCommand Build(CliOutput output)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON for machines instead of tables" };
        var root = new RootCommand(
            "Engram: fused linear cross-entropy (CCE) and other memory-lean LLM kernels. " +
            "Exit codes: 0 ok, 1 mismatch or regression, 2 usage or environment error.");

        var info = new Command("info", "Library version and ABI, CPU, CUDA devices, ILGPU accelerators, the backend Auto picks") { json };
        info.SetAction(p => InfoCommand.Run(output, p.GetValue(json)));
        root.Subcommands.Add(info);

        var backend = new Option<string>("--backend") { Description = "Backend: " + BackendNames.Help, DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "Random seed of the cases", DefaultValueFactory = _ => 1 };
        var cases = new Option<int?>("--cases")
        {
            Description = $"Native backends: the first N cases of each op (default: all); ILGPU: N random CCE cases (default {VerifyCommand.DefaultCases})",
        };
        var verifyOp = new Argument<string?>("OP")
        {
            Description = "An op family (cce) or one op (cce_forward, ...; `engram-bench list`); default: every op",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var verify = new Command("verify",
            "Run the ops on awkward shapes against their float64 references: the native case suites (engram-bench verify) " +
            "on cpu/cuda, the managed CCE verifier on ILGPU") { verifyOp, backend, seed, cases, json };
        verify.SetAction(p => VerifyCommand.Run(output, BackendNames.Parse(p.GetValue(backend)!), p.GetValue(verifyOp),
            p.GetValue(seed), p.GetValue(cases), p.GetValue(json)));
        root.Subcommands.Add(verify);

        root.Subcommands.Add(BuildBench(output));

        var oldFile = new Argument<string>("OLD") { Description = "Baseline benchmark JSON" };
        var newFile = new Argument<string>("NEW") { Description = "New benchmark JSON" };
        var threshold = new Option<double>("--threshold") { Description = "Allowed slowdown, e.g. 0.10 = 10%", DefaultValueFactory = _ => 0.10 };
        var compare = new Command("compare", "Compare two benchmark runs; exit 1 if a case is slower beyond the threshold") { oldFile, newFile, threshold, json };
        compare.SetAction(p => CompareCommand.Run(output, p.GetValue(oldFile)!, p.GetValue(newFile)!, p.GetValue(threshold), p.GetValue(json)));
        root.Subcommands.Add(compare);

        var quick = new Option<bool>("--quick") { Description = "Benchmark a smaller problem (1024 x 8192 x 512)" };
        var reps = new Option<int?>("--reps") { Description = "Timed repetitions of each benchmark case (default 3)" };
        var jsonFile = new Option<string?>("--json") { Description = "Keep the benchmark JSON in this file" };
        var run = new Command("run", "The main job: machine summary, quick verify, then the CCE benchmark on the best backend") { seed, quick, reps, jsonFile };
        run.SetAction(p => RunCommand.Run(output, p.GetValue(seed),
            // Three timed repetitions keep the main job to a few minutes at the reference size.
            new BenchSettings { Quick = p.GetValue(quick), Reps = p.GetValue(reps) ?? 3, JsonFile = p.GetValue(jsonFile) }));
        root.Subcommands.Add(run);
        return root;
    }

    private static Command BuildBench(CliOutput output)
    {
        var backend = new Option<string?>("--backend") { Description = "cpu or cuda (default: cuda when available, else cpu)" };
        var n = new Option<long?>("--n") { Description = $"Tokens (default {BenchSettings.DefaultN})" };
        var v = new Option<long?>("--v") { Description = $"Vocabulary (default {BenchSettings.DefaultV})" };
        var d = new Option<long?>("--d") { Description = $"Hidden size (default {BenchSettings.DefaultD})" };
        var dtype = new Option<string>("--dtype") { Description = "f32, f16 or bf16", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var reps = new Option<int?>("--reps") { Description = "Timed repetitions (default 5; 3 with --quick)" };
        var jsonFile = new Option<string?>("--json") { Description = "Keep the benchmark JSON (docs/bench-json.md) in this file" };
        var quick = new Option<bool>("--quick") { Description = "A smaller problem (1024 x 8192 x 512) for a first look" };
        var from = new Option<string?>("--from") { Description = "Render an existing benchmark JSON file instead of running" };
        var threads = new Option<int?>("--threads") { Description = "CPU worker threads (default: all cores)" };
        var variants = new Option<string?>("--variants") { Description = "engram variants: exact,fused,filtered,fused-filtered (default: all)" };
        var scratch = new Option<string?>("--scratch") { Description = "CPU scratch budgets for extra one-pass fused runs, e.g. 8M,32M,128M (the time/memory curve)" };
        var noPeer = new Option<bool>("--no-peer") { Description = "Skip the PyTorch peer (CPU, f32; run when a python3 with torch exists)" };
        var op = new Argument<string>("OP") { Description = "The op family to benchmark (engram-bench list): cce" };
        var bench = new Command("bench",
            "Benchmark an op family against the naive method and the machine's limits (runs the native driver engram-bench; " +
            "every case is checked against the float64 reference before it is timed)")
            { op, backend, n, v, d, dtype, reps, jsonFile, quick, from, threads, variants, scratch, noPeer };
        bench.SetAction(p => BenchCommand.Run(output, new BenchSettings
        {
            Op = p.GetValue(op)!,
            Backend = p.GetValue(backend),
            N = p.GetValue(n),
            V = p.GetValue(v),
            D = p.GetValue(d),
            DType = p.GetValue(dtype)!,
            Reps = p.GetValue(reps),
            JsonFile = p.GetValue(jsonFile),
            Quick = p.GetValue(quick),
            From = p.GetValue(from),
            Threads = p.GetValue(threads),
            Variants = p.GetValue(variants),
            Scratch = p.GetValue(scratch),
            Peer = !p.GetValue(noPeer),
        }));
        return bench;
    }
}
