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

        root.Subcommands.Add(BuildCompare(output));
        root.Subcommands.Add(BuildHistory(output));
        root.Subcommands.Add(BuildProfile(output));

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

    private static Command BuildCompare(CliOutput output)
    {
        var oldFile = new Argument<string>("BASE") { Description = "Baseline benchmark JSON (docs/bench-json.md)" };
        var newFile = new Argument<string>("NEW") { Description = "New benchmark JSON" };
        var tolerance = new Option<double?>("--tolerance")
        {
            Description = "Allowed slowdown in percent (default 10); a change must also exceed the runs' measured noise",
        };
        var threshold = new Option<double?>("--threshold") { Description = "The tolerance as a fraction (0.10 = 10%); older spelling of --tolerance" };
        var crossMachine = new Option<bool>("--cross-machine")
        {
            Description = "Compare runs of different machines: judge only times relative to the in-run baseline",
        };
        var ratiosOnly = new Option<bool>("--ratios-only")
        {
            Description = "Judge only times relative to the in-run baseline, even on the same machine (a CI check against a " +
                          "committed baseline on a loaded machine); implies --cross-machine",
        };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the report as Markdown (a pull-request comment) to FILE" };
        var json = new Option<string?>("--json")
        {
            Description = "Write the report as JSON (engram-compare/1) to FILE; without FILE, print it instead of the table",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var compare = new Command("compare",
            "Compare two benchmark runs case by case (op, impl, variant, backend, shape, dtype, threads). An engram case " +
            "regresses when it slows beyond both the tolerance and the two runs' noise, in time relative to the in-run " +
            "baseline and, on the same machine, in absolute time; the baseline and peers are reported apart. " +
            "Exit 0 ok, 1 regression, 2 incomparable (unreadable or wrong-version JSON, different machines without " +
            "--cross-machine, nothing matched)")
            { oldFile, newFile, tolerance, threshold, crossMachine, ratiosOnly, markdown, json };
        compare.SetAction(p =>
        {
            double? pct = p.GetValue(tolerance), fraction = p.GetValue(threshold);
            if (pct is not null && fraction is not null) throw new ArgumentException("give --tolerance (percent) or --threshold (fraction), not both");
            var jsonResult = p.GetResult(json);
            return CompareCommand.Run(output, new CompareSettings(p.GetValue(oldFile)!, p.GetValue(newFile)!,
                pct ?? (fraction is { } f ? f * 100 : 10), p.GetValue(crossMachine) || p.GetValue(ratiosOnly), p.GetValue(markdown),
                JsonFile: p.GetValue(json), JsonToStdout: jsonResult is not null && p.GetValue(json) is null,
                RatiosOnly: p.GetValue(ratiosOnly)));
        });
        return compare;
    }

    private static Command BuildHistory(CliOutput output)
    {
        var dir = new Argument<string>("DIR") { Description = "A directory of benchmark JSON files (searched recursively), e.g. perf/results" };
        var ops = new Option<string[]>("--op") { Description = "Only these ops or op families (repeatable)", AllowMultipleArgumentsPerToken = true };
        var outPng = new Option<string>("--out") { Description = "The PNG to write", Required = true };
        var markdown = new Option<string?>("--markdown") { Description = "Where the Markdown summary goes (default: the PNG's path with .md)" };
        var history = new Command("history",
            "Plot each engram case's speed-up over the in-run naive baseline and its achieved GFLOP/s or GB/s across the runs " +
            "in DIR, ordered by commit; writes a PNG and a Markdown summary. Exit 2 for malformed, truncated or wrong-version JSON")
            { dir, ops, outPng, markdown };
        history.SetAction(p => HistoryCommand.Run(output, p.GetValue(dir)!, p.GetValue(ops) ?? [], p.GetValue(outPng)!, p.GetValue(markdown)));
        return history;
    }

    private static Command BuildProfile(CliOutput output)
    {
        var op = new Argument<string>("OP") { Description = "cce (with --phase), cce_forward, cce_backward or cce_forward_backward" };
        var phase = new Option<string?>("--phase") { Description = "forward, backward or forward_backward (with OP = cce; default forward)" };
        phase.AcceptOnlyFromAmong("forward", "backward", "forward_backward");
        var iters = new Option<int>("--iters") { Description = "Calls in the measured loop", DefaultValueFactory = _ => 20 };
        var warmup = new Option<int?>("--warmup") { Description = "Calls before the loop (default 1)" };
        var backend = new Option<string?>("--backend") { Description = "cpu or cuda (default cpu)" };
        var shape = new Option<string?>("--shape") { Description = "Named dimensions, e.g. n=4096,v=32768,d=1024" };
        var dtype = new Option<string>("--dtype") { Description = "f32, f16 or bf16", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var threads = new Option<int?>("--threads") { Description = "CPU worker threads (default: all cores)" };
        var profile = new Command("profile",
            "Run one op and phase in a plain loop for perf, ncu and nsys: inputs made once before the loop, no reference " +
            "(engram-bench profile; docs/profiling.md has perf and ncu recipes)")
            { op, phase, iters, warmup, backend, shape, dtype, threads };
        profile.SetAction(p => ProfileCommand.Run(output, new ProfileSettings(p.GetValue(op)!, p.GetValue(phase), p.GetValue(iters),
            p.GetValue(warmup), p.GetValue(backend), p.GetValue(shape), p.GetValue(dtype)!, p.GetValue(threads))));
        return profile;
    }

    private static Command BuildBench(CliOutput output)
    {
        var backend = new Option<string?>("--backend") { Description = "cpu or cuda (default: cuda when available, else cpu)" };
        var n = new Option<long?>("--n") { Description = $"Tokens (default {BenchSettings.DefaultN})" };
        var v = new Option<long?>("--v") { Description = $"Vocabulary (default {BenchSettings.DefaultV})" };
        var d = new Option<long?>("--d") { Description = $"Hidden size (default {BenchSettings.DefaultD})" };
        var dtype = new Option<string>("--dtype") { Description = "f32, f16 or bf16", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var reps = new Option<int?>("--reps") { Description = "At least this many timed repetitions per case (default 5; 3 with --quick)" };
        var maxReps = new Option<int?>("--max-reps")
        {
            Description = "Then more, up to this many, until the spread settles or the case's budget is spent (default 20; with --reps alone, exactly --reps)",
        };
        var budget = new Option<double?>("--budget") { Description = "Timed seconds per case before it stops repeating (engram-bench default 10)" };
        var jsonFile = new Option<string?>("--json") { Description = "Keep the benchmark JSON (docs/bench-json.md) in this file" };
        var quick = new Option<bool>("--quick") { Description = "A smaller problem (1024 x 8192 x 512) for a first look" };
        var from = new Option<string?>("--from") { Description = "Render an existing benchmark JSON file instead of running" };
        var threads = new Option<int?>("--threads") { Description = "CPU worker threads (default: all cores)" };
        var variants = new Option<string?>("--variants") { Description = "engram variants: exact,fused,filtered,fused-filtered (default: all)" };
        var scratch = new Option<string?>("--scratch") { Description = "CPU scratch budgets for extra one-pass fused runs, e.g. 8M,32M,128M (the time/memory curve)" };
        var noPeer = new Option<bool>("--no-peer") { Description = "Skip the PyTorch peer (CPU, f32; run when a python3 with torch exists)" };
        var op = new Argument<string>("OP") { Description = "The op family to benchmark (engram-bench list): cce, scan, attention, qmatmul" };
        var benchShape = new Option<string?>("--shape")
        {
            Description = "Named dimensions (engram-bench list), e.g. t=8192 for scan; for cce the same as --n/--v/--d",
        };
        var bench = new Command("bench",
            "Benchmark an op family against the naive method and the machine's limits (runs the native driver engram-bench; " +
            "every case is checked against the float64 reference before it is timed)")
            { op, backend, n, v, d, benchShape, dtype, reps, maxReps, budget, jsonFile, quick, from, threads, variants, scratch, noPeer };
        bench.SetAction(p => BenchCommand.Run(output, new BenchSettings
        {
            Op = p.GetValue(op)!,
            Backend = p.GetValue(backend),
            N = p.GetValue(n),
            V = p.GetValue(v),
            D = p.GetValue(d),
            DType = p.GetValue(dtype)!,
            Reps = p.GetValue(reps),
            MaxReps = p.GetValue(maxReps),
            BudgetSeconds = p.GetValue(budget),
            JsonFile = p.GetValue(jsonFile),
            Quick = p.GetValue(quick),
            From = p.GetValue(from),
            Threads = p.GetValue(threads),
            Variants = p.GetValue(variants),
            Scratch = p.GetValue(scratch),
            Peer = !p.GetValue(noPeer),
            Shape = p.GetValue(benchShape),
        }));
        return bench;
    }
}
