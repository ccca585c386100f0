using System.Runtime.InteropServices;
using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: the thread CPU time of whole decode steps (<c>--cpu-decode seconds</c>, meant for
/// <c>DOTNET_PROCESSOR_COUNT=1</c>, where every kernel runs on the calling thread): GPT-2-small shape in F32, F16 and
/// BF16, one token at position 16 with projection and sampling, the cache rewound after each step; the least and the
/// lower quartile over many steps, which other processes' load inflates much less than wall time.
/// </summary>
internal static unsafe class DecodeCpuLoop
{
    internal static void Run(double seconds)
    {
        foreach (var type in new[] { ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16 })
        {
            using var model = Gpt2SmallShape.CreateRandom(type);
            using var projector = model.GetOutputEmbeddings();
            using var cache = model.CreateKvCache();
            var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).Build();
            var random = new SamplingRandom(7);
            using (model.ComputeHiddenStates(arange(16, ScalarType.Int64), cache))
            {
            }

            using var token = tensor(new long[] { 42 });
            var times = new List<double>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                double start = ThreadCpu();
                using (NewDisposeScope())
                {
                    var hidden = model.ComputeHiddenStates(token, cache);
                    using var logits = projector.Project(hidden[0]);
                    pipeline.NextToken(logits, random);
                    cache.Rewind(16);
                }

                times.Add((ThreadCpu() - start) * 1000);
            }

            var sorted = times.Order().ToArray();
            Console.WriteLine($"{type}: {sorted.Length} steps, thread CPU ms per step: least {sorted[0]:F2}, lower quartile {sorted[sorted.Length / 4]:F2}, median {sorted[sorted.Length / 2]:F2}");
        }
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private static double ThreadCpu() => ClockGetTime(3, out var t) == 0 ? t.Seconds + (t.Nanoseconds * 1e-9) : throw new InvalidOperationException("clock_gettime failed.");

    [StructLayout(LayoutKind.Sequential)]
    private readonly struct TimeSpec
    {
        public readonly long Seconds;
        public readonly long Nanoseconds;
    }
}
