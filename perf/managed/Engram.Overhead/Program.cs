using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Engram.Overhead.OverheadBenchmarks).Assembly).Run(args);
