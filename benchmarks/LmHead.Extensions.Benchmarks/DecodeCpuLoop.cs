using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: the thread CPU time of whole decode steps (<c>--cpu-decode seconds</c>, meant for
/// <c>DOTNET_PROCESSOR_COUNT=1</c>, where every kernel runs on the calling thread): GPT-2-small shape in F32, F16 and
/// BF16 (or the dtypes given), one token at position 16 (or the position given) with projection and sampling, the cache rewound after each step; the least and the
/// lower quartile over many steps, which other processes' load inflates much less than wall time.
/// </summary>
internal static class DecodeCpuLoop
{
    internal static void Run(double seconds, int position = DecodeSession.Position, ScalarType[]? types = null)
    {
        foreach (var type in types ?? [ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16])
        {
            using var session = new DecodeSession(type, position);
            var times = new List<double>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                double start = ThreadCpuTime.Seconds();
                session.Step();
                times.Add((ThreadCpuTime.Seconds() - start) * 1000);
            }

            var sorted = times.Order().ToArray();
            Console.WriteLine($"{type} at position {position}: {sorted.Length} steps, thread CPU ms per step: least {sorted[0]:F2}, lower quartile {sorted[sorted.Length / 4]:F2}, median {sorted[sorted.Length / 2]:F2}");
        }
    }
}
