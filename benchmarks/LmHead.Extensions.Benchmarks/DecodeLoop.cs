using System.Diagnostics;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: decode steps of the GPT-2-small-shaped model in a loop for a while (<c>--loop-decode DType seconds</c>),
/// for a sampling profiler such as <c>perf record</c> with <c>DOTNET_PerfMapEnabled=1</c>. Each step is one token at
/// position 16 (the cache rewound after it), projected and sampled, as in <see cref="DecodeProfile"/>.
/// </summary>
internal static class DecodeLoop
{
    internal static void Run(string dtype, double seconds)
    {
        var type = Enum.Parse<ScalarType>(dtype, ignoreCase: true);
        using var session = new DecodeSession(type);
        var clock = Stopwatch.StartNew();
        int steps = 0;
        // Alternating steps with the kernels' persistent workers and with Parallel.For (KernelParallel.Enabled), so that
        // both see the same load; the medians of each are printed.
        var times = new List<double>[] { [], [] };
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            bool workers = steps % 2 == 0;
            KernelParallel.Enabled = workers;
            long start = Stopwatch.GetTimestamp();
            session.Step();
            times[workers ? 0 : 1].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            steps++;
        }

        KernelParallel.Enabled = true;
        Console.WriteLine($"{type}: {steps} steps in {clock.Elapsed.TotalSeconds:F1} s, wall clock per step: median with persistent workers {Median(times[0]):F2} ms, with Parallel.For {Median(times[1]):F2} ms; least {times[0].Min():F2} / {times[1].Min():F2} ms");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }
}
