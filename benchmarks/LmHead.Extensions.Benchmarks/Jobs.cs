using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// The job of the microsecond-to-millisecond benchmarks: in-process (TorchSharp's native library is patched in this
/// project's output folder, which BenchmarkDotNet's generated out-of-process projects would not have), 3 warm-up and
/// 7 measured iterations.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class InProcessShortJobAttribute : JobConfigBaseAttribute
{
    public InProcessShortJobAttribute()
        : base(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(7))
    {
    }
}

/// <summary>
/// The job of the benchmarks whose single operation takes seconds to minutes (10,000 rows through ML.NET, loading a
/// 150 MB model): in-process with a 60-minute limit per case (the default limit is 5 minutes), one invocation per
/// iteration, no warm-up (an operation runs long enough that compilation does not matter) and 3 measured iterations.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class InProcessLongOperationJobAttribute : JobConfigBaseAttribute
{
    public InProcessLongOperationJobAttribute()
        : base(Job.Default.WithToolchain(new InProcessEmitToolchain(TimeSpan.FromMinutes(60), logOutput: true))
            .WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(0).WithIterationCount(3)
            .WithInvocationCount(1).WithUnrollFactor(1))
    {
    }
}
