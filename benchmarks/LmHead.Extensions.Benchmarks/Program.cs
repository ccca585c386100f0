using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using LmHead.Extensions.Benchmarks;
using LmHead.Extensions.Benchmarks.LlamaCpp;

if (args is ["--check-llama-cpp"])
{
    // Not a benchmark: converts random checkpoints to GGUF and compares llama.cpp's logits with ours (docs/benchmarks.md).
    LlamaCppAgreement.RunConsoleCheck();
    return;
}

if (args is ["--profile-decode"])
{
    // Not a benchmark: where a decode step's time goes (docs/benchmarks.md, "Where a half-precision step spends its time").
    DecodeProfile.Run();
    return;
}

if (args is ["--profile-load"])
{
    // Not a benchmark: where loading a Qwen2.5-0.5B-shaped folder spends its time (docs/benchmarks.md, run U-load).
    LoadProfile.Run();
    return;
}

if (args is ["--profile-sampling"])
{
    // Not a benchmark: where top-p without a top-k spends its time (docs/benchmarks.md, "Run U-sampling").
    SamplingProfile.Run();
    return;
}

if (args is ["--profile-dispatch"])
{
    // Not a benchmark: hand-off cost of the kernels' parallel loops (docs/benchmarks.md, run U-half).
    DispatchProfile.Run();
    return;
}

if (args is ["--profile-gemv", .. var gemvMode])
{
    GemvProfile.Run(twoThreads: gemvMode is ["parallel"]);
    return;
}

if (args is ["--profile-head"])
{
    HeadProfile.Run();
    return;
}

if (args is ["--loop-decode", var dtype, var seconds])
{
    // Not a benchmark: decode steps in a loop, for a sampling profiler (perf record with DOTNET_PerfMapEnabled=1).
    DecodeLoop.Run(dtype, double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture));
    return;
}

if (args is ["--cpu-decode", var cpuSeconds])
{
    // Not a benchmark: thread CPU time of whole decode steps (docs/benchmarks.md, run U-half).
    DecodeCpuLoop.Run(double.Parse(cpuSeconds, System.Globalization.CultureInfo.InvariantCulture));
    return;
}

if (args is ["--cpu-decode", var cpuSeconds2, var position, .. var dtypes])
{
    // Not a benchmark: the same at another position, for the dtypes given (all three when none; run W-half).
    DecodeCpuLoop.Run(
        double.Parse(cpuSeconds2, System.Globalization.CultureInfo.InvariantCulture),
        int.Parse(position, System.Globalization.CultureInfo.InvariantCulture),
        dtypes.Length == 0 ? null : [.. dtypes.Select(d => Enum.Parse<TorchSharp.torch.ScalarType>(d, ignoreCase: true))]);
    return;
}

if (args is ["--cpu-decode-vs", var vsSeconds, var vsPosition, var vsFirst, var vsSecond])
{
    // Not a benchmark: two dtypes of one random model, alternating step by step in one process (docs/benchmarks.md, run Y).
    DecodeCpuLoop.RunVersus(
        double.Parse(vsSeconds, System.Globalization.CultureInfo.InvariantCulture),
        int.Parse(vsPosition, System.Globalization.CultureInfo.InvariantCulture),
        Enum.Parse<TorchSharp.torch.ScalarType>(vsFirst, ignoreCase: true),
        Enum.Parse<TorchSharp.torch.ScalarType>(vsSecond, ignoreCase: true));
    return;
}

if (args is ["--cpu-decode-ab", var abSeconds, var abPosition, var abType, var abSwitch])
{
    // Not a benchmark: one kernel switch off and on, alternating step by step in one process (docs/benchmarks.md, run Y).
    DecodeCpuLoop.RunAb(
        double.Parse(abSeconds, System.Globalization.CultureInfo.InvariantCulture),
        int.Parse(abPosition, System.Globalization.CultureInfo.InvariantCulture),
        Enum.Parse<TorchSharp.torch.ScalarType>(abType, ignoreCase: true),
        abSwitch);
    return;
}

if (args is ["--profile-attention", var attentionSeconds, var attentionPosition])
{
    // Not a benchmark: one step's attention by the kernel against the reference order it replaced (docs/benchmarks.md, run W-half).
    AttentionProfile.Run(
        double.Parse(attentionSeconds, System.Globalization.CultureInfo.InvariantCulture),
        int.Parse(attentionPosition, System.Globalization.CultureInfo.InvariantCulture));
    return;
}

if (args is ["--profile-huge-pages", var hugeSeconds, var hugePosition])
{
    // Not a benchmark: float16 steps with the weights on 4 KiB against 2 MiB pages, alternately (docs/benchmarks.md, run W-half).
    HugePagesProfile.Run(
        double.Parse(hugeSeconds, System.Globalization.CultureInfo.InvariantCulture),
        int.Parse(hugePosition, System.Globalization.CultureInfo.InvariantCulture));
    return;
}

if (args is ["--profile-batch", .. var parts])
{
    // Not a benchmark: where a batched decode step's time goes, and one stream through the scheduler (docs/benchmarks.md, run U-batch).
    BatchProfile.Run(parts);
    return;
}

if (args is ["--chart-decode", var decodeReport, var decodePng])
{
    // Not a benchmark: draws docs/images/decode-vs-position.png from VersusLlamaCppDecodeBenchmarks' CSV report.
    DecodeChart.Write(decodeReport, decodePng);
    return;
}

if (args is ["--chart-concurrent", var report, var png])
{
    // Not a benchmark: draws docs/images/concurrent-streams.png from ConcurrentGenerationBenchmarks' CSV report.
    ConcurrencyChart.Write(report, png);
    return;
}

// Each class names its job (Jobs.cs): in-process, because TorchSharp's native library is patched in this project's
// output folder, which BenchmarkDotNet's generated out-of-process projects would not have.
var config = DefaultConfig.Instance
    .AddColumn(StatisticColumn.Median)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(SamplingBenchmarks).Assembly).Run(args, config);
