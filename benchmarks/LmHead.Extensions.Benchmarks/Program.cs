using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LmHead.Extensions.Benchmarks;

// In-process: TorchSharp's native library is patched in this project's output folder, which BenchmarkDotNet's
// generated out-of-process projects would not have; one short job keeps the whole run to a few minutes.
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(7))
    .AddColumn(StatisticColumn.Median)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(SamplingBenchmarks).Assembly).Run(args, config);
