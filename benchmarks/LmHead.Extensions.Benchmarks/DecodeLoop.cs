using System.Diagnostics;
using LmHead.Extensions.Decoding;
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
        using var model = Gpt2SmallShape.CreateRandom(type);
        using var projector = model.GetOutputEmbeddings();
        using var cache = model.CreateKvCache();
        var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).Build();
        var random = new SamplingRandom(7);
        using (model.ComputeHiddenStates(arange(16, ScalarType.Int64), cache))
        {
        }

        using var token = tensor(new long[] { 42 });
        var clock = Stopwatch.StartNew();
        int steps = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            using var scope = NewDisposeScope();
            var hidden = model.ComputeHiddenStates(token, cache);
            using var logits = projector.Project(hidden[0]);
            pipeline.NextToken(logits, random);
            cache.Rewind(16);
            steps++;
        }

        Console.WriteLine($"{type}: {steps} steps in {clock.Elapsed.TotalSeconds:F1} s ({clock.Elapsed.TotalMilliseconds / steps:F2} ms per step, wall clock)");
    }
}
