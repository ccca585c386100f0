using System.Diagnostics;
using System.Runtime.InteropServices;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using static TorchSharp.torch;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: where a batched decode step's time goes (<c>--profile-batch</c>), for docs/benchmarks.md. For
/// B = 1, 8, 16 and 64 rows (64 = a prompt chunk) of a GPT-2-small-shaped fp32 step at position 16: the step without the
/// head, its 48 linear layers alone (12 distinct weight copies per shape, so none is read from cache), the rest (attention,
/// norms, gelu), the batched head and the sampling of B rows. With <c>DOTNET_PROCESSOR_COUNT=1</c> every time is the
/// least thread CPU time of the repeats (other processes' load does not inflate it); otherwise the median wall time.
/// Then one stream through the scheduler, concurrent and serialised call shapes alternated (the benchmark's 1-stream pair).
/// Parts: <c>step</c>, <c>lone</c> (both by default), <c>head</c> (the batched head with and without its 4 × 4 tile) and
/// <c>pairs R [N]</c> (1, 8 and 16 streams alternated R times: same-round speed-ups; N new tokens per stream, 16 by default), <c>run N</c> (the concurrent benchmark case of N streams, step by step) and <c>loop N</c> (steps of N rows in a loop, for perf).
/// </summary>
internal static unsafe class BatchProfile
{
    private const int Repeats = 9;

    internal static void Run(string[] parts)
    {
        bool all = parts.Length == 0;
        Console.WriteLine($"processors {Environment.ProcessorCount}; " +
            (Environment.ProcessorCount == 1 ? "least thread CPU time of the repeats (ms)" : "median wall time (ms)"));
        if (all || parts.Contains("step"))
        {
            ProfileSteps();
        }

        if (all || parts.Contains("lone"))
        {
            ProfileLoneStream();
        }

        if (parts.Contains("tile"))
        {
            TileProfile.Run();
        }

        if (parts.Contains("head"))
        {
            ProfileHead();
        }

        if (parts is ["run", var streams, ..])
        {
            ProfileRun(int.Parse(streams, System.Globalization.CultureInfo.InvariantCulture));
        }

        if (parts is ["pairs", var rounds, ..])
        {
            // An optional third part sets the new tokens per stream (16 by default, as the benchmark): longer generations
            // weigh the prompts' prefill less and show the decode steps' own speed-up.
            if (parts is [_, _, var tokens, ..])
            {
                ConcurrentGenerationBenchmarks.NewTokens = int.Parse(tokens, System.Globalization.CultureInfo.InvariantCulture);
            }

            ProfilePairs(int.Parse(rounds, System.Globalization.CultureInfo.InvariantCulture));
        }

        if (parts is ["loop", var rows, ..])
        {
            Loop(int.Parse(rows, System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>
    /// The benchmark's concurrent case of <paramref name="streams"/> streams, five calls after its warm-up: each call's wall
    /// time, steps, and the rows (tokens fed) of its first steps, to see how fast the requests join.
    /// </summary>
    private static void ProfileRun(int streams)
    {
        var benchmark = new ConcurrentGenerationBenchmarks { Streams = streams };
        benchmark.Setup();
        try
        {
            var scheduler = GenerationScheduler.For(benchmark.Model);
            var steps = new List<string>();
            scheduler.StepCompleted = fed => steps.Add($"{fed.Count}r/{fed.Sum()}t");
            for (int call = 0; call < 5; call++)
            {
                steps.Clear();
                var watch = Stopwatch.StartNew();
                benchmark.Concurrent().GetAwaiter().GetResult();
                Console.WriteLine($"call {call}: {watch.Elapsed.TotalMilliseconds,6:F0} ms, {steps.Count} steps; rows/tokens of the first 20: {string.Join(' ', steps.Take(20))}");
            }

            scheduler.StepCompleted = null;
        }
        finally
        {
            benchmark.Cleanup();
        }
    }

    /// <summary>
    /// The benchmark's concurrent case with 1, 8 and 16 streams in turn, <paramref name="rounds"/> times in one process, so
    /// that each round's three calls see about the same load: the median over rounds of each call's aggregate speed-up
    /// over the round's one-stream call (N × time(1) / time(N)); on a machine whose load changes from minute to minute this
    /// ratio is steadier than BenchmarkDotNet's cases, which run minutes apart.
    /// </summary>
    private static void ProfilePairs(int rounds)
    {
        // LMHEAD_HEAD_TILE=four: the head's 4 × 4 tile instead of the 8 × 2 one; =two: its two-weight-row tile (A/B of whole calls).
        string? headTile = Environment.GetEnvironmentVariable("LMHEAD_HEAD_TILE");
        WideBatchKernel.UseEightByTwoTile = headTile is not ("two" or "four");
        WideBatchKernel.UseFourByFourTile = headTile != "two";
        // LMHEAD_LINEAR_TILE=four: the linear layers' 4 × 4 tile instead of the 8 × 2 one (run Y-batch).
        BatchedMatrixKernel.UseEightByTwoTile = Environment.GetEnvironmentVariable("LMHEAD_LINEAR_TILE") != "four";
        Console.WriteLine($"head tile: {(WideBatchKernel.UseEightByTwoTile ? "8 x 2" : WideBatchKernel.UseFourByFourTile ? "4 x 4" : "two-row")}; linear tile: {(BatchedMatrixKernel.UseEightByTwoTile ? "8 x 2" : "4 x 4")}");
        var benchmark = new ConcurrentGenerationBenchmarks { Streams = 16 };
        benchmark.Setup();
        try
        {
            int[] counts = [1, 8, 16];
            var times = counts.ToDictionary(c => c, _ => new List<double>());
            var speedUps = counts.ToDictionary(c => c, _ => new List<double>());
            for (int round = 0; round < rounds; round++)
            {
                foreach (int count in counts)
                {
                    benchmark.Streams = count;
                    var watch = Stopwatch.StartNew();
                    benchmark.Concurrent().GetAwaiter().GetResult();
                    times[count].Add(watch.Elapsed.TotalMilliseconds);
                    speedUps[count].Add(count * times[1][^1] / times[count][^1]);
                }

                Console.WriteLine($"round {round}: " + string.Join(", ", counts.Select(c => $"{c} streams {times[c][^1]:F0} ms ({speedUps[c][^1]:F2}x)")));
            }

            Console.WriteLine("median: " + string.Join(", ", counts.Select(c => $"{c} streams {Median(times[c]):F0} ms, {Median(speedUps[c]):F2}x one stream")));
        }
        finally
        {
            benchmark.Cleanup();
        }
    }

    /// <summary>
    /// Batched steps of <paramref name="batch"/> one-token rows at position 16 (model, head and sampling) in a loop for
    /// about 20 seconds, for a sampling profiler (perf record with DOTNET_PerfMapEnabled=1); prints the mean step time.
    /// </summary>
    private static void Loop(int batch)
    {
        using var model = Gpt2SmallShape.CreateRandom(ScalarType.Float32);
        using var projector = model.GetOutputEmbeddings();
        var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).Build();
        var random = new SamplingRandom(7);
        var caches = Enumerable.Range(0, batch).Select(_ => model.CreateKvCache()).ToArray();
        foreach (var cache in caches)
        {
            using (model.ComputeHiddenStates(arange(16, ScalarType.Int64), cache))
            {
            }
        }

        int[][] tokens = [.. Enumerable.Range(0, batch).Select(b => new[] { 100 + b })];
        var watch = Stopwatch.StartNew();
        int steps = 0;
        while (watch.Elapsed.TotalSeconds < 20)
        {
            using var scope = NewDisposeScope();
            var states = model.ComputeLastHiddenStates(caches, tokens);
            var logits = BatchedHeadProjection.Project(projector, states);
            for (int b = 0; b < batch; b++)
            {
                pipeline.NextToken(logits[b], random);
            }

            foreach (var cache in caches)
            {
                cache.Rewind(16);
            }

            steps++;
        }

        Console.WriteLine($"B = {batch}: {steps} steps, {watch.Elapsed.TotalMilliseconds / steps:F1} ms per step (wall)");
        foreach (var cache in caches)
        {
            cache.Dispose();
        }
    }

    /// <summary>
    /// The batched head alone (GPT-2's fp32 50,257 × 768) at B = 1, 4, 8, 16, with the 8 × 2, the 4 × 4 and the
    /// two-weight-row AVX-512 tiles, alternated in one process so that all see the same load (docs/benchmarks.md, runs
    /// W-batch and Y-batch).
    /// </summary>
    private static void ProfileHead()
    {
        using var model = Gpt2SmallShape.CreateRandom(ScalarType.Float32);
        using var projector = model.GetOutputEmbeddings();
        Console.WriteLine("  B | 8 x 2 tile | 4 x 4 tile | two-row tile | 8 x 2 / 4 x 4");
        var tiles = new[] { (true, true), (false, true), (false, false) };
        foreach (int batch in new[] { 1, 4, 8, 16 })
        {
            using var states = randn(batch, 768, generator: new Generator(11));
            var times = new double[tiles.Length];
            for (int round = 0; round < 3; round++)
            {
                for (int t = 0; t < tiles.Length; t++)
                {
                    (WideBatchKernel.UseEightByTwoTile, WideBatchKernel.UseFourByFourTile) = tiles[t];
                    times[t] += Time(() =>
                    {
                        using var logits = BatchedHeadProjection.Project(projector, states);
                    }) / 3;
                }
            }

            (WideBatchKernel.UseEightByTwoTile, WideBatchKernel.UseFourByFourTile) = (true, true);
            Console.WriteLine($"{batch,3} | {times[0],10:F2} | {times[1],10:F2} | {times[2],12:F2} | {times[0] / times[1],13:F2}");
        }
    }

    private static void ProfileSteps()
    {
        using var model = Gpt2SmallShape.CreateRandom(ScalarType.Float32);
        using var projector = model.GetOutputEmbeddings();
        var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).Build();
        var random = new SamplingRandom(7);
        int d = 768;
        var shapes = new[] { (3 * d, d), (d, d), (4 * d, d), (d, 4 * d) };
        var weights = shapes.Select(s => Enumerable.Range(0, 12).Select(c => RandomMatrix((long)s.Item1 * s.Item2, c)).ToArray()).ToArray();
        Console.WriteLine("  B | step w/o head | 48 linear | rest (attn, norms, gelu) | head | sampling B rows | step / B=1 step");
        double one = 0;
        foreach (int batch in new[] { 1, 8, 16, 64 })
        {
            var caches = Enumerable.Range(0, batch).Select(_ => model.CreateKvCache()).ToArray();
            foreach (var cache in caches)
            {
                using (model.ComputeHiddenStates(arange(16, ScalarType.Int64), cache))
                {
                }
            }

            int[][] tokens = [.. Enumerable.Range(0, batch).Select(b => new[] { 100 + b })];
            double hidden = Time(() =>
            {
                using var h = model.ComputeLastHiddenStates(caches, tokens);
                foreach (var cache in caches)
                {
                    cache.Rewind(16);
                }
            });
            double linear = LinearLayers(shapes, weights, batch);
            using var states = model.ComputeLastHiddenStates(caches, tokens);
            double head = Time(() =>
            {
                using var logits = BatchedHeadProjection.Project(projector, states);
            });
            using var rows = BatchedHeadProjection.Project(projector, states);
            var each = Enumerable.Range(0, batch).Select(b => rows[b]).ToArray();
            double sampling = Time(() =>
            {
                foreach (var row in each)
                {
                    pipeline.NextToken(row, random);
                }
            });
            double step = hidden + head + sampling;
            one = batch == 1 ? step : one;
            Console.WriteLine($"{batch,3} | {hidden,13:F2} | {linear,9:F2} | {hidden - linear,24:F2} | {head,5:F2} | {sampling,15:F2} | {step / one:F2}x");
            foreach (var row in each)
            {
                row.Dispose();
            }

            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }

        foreach (var w in weights.SelectMany(c => c))
        {
            NativeMemory.AlignedFree((void*)w);
        }
    }

    private static double LinearLayers((int Outputs, int Inputs)[] shapes, nint[][] weights, int batch)
    {
        int widest = shapes.Max(s => Math.Max(s.Outputs, s.Inputs));
        float* x = (float*)NativeMemory.AlignedAlloc((nuint)(batch * widest * sizeof(float)), 64);
        float* y = (float*)NativeMemory.AlignedAlloc((nuint)(batch * widest * sizeof(float)), 64);
        var random = new Random(5);
        for (int i = 0; i < batch * widest; i++)
        {
            x[i] = (float)random.NextDouble() - 0.5f;
        }

        try
        {
            return Time(() =>
            {
                for (int s = 0; s < shapes.Length; s++)
                {
                    foreach (var w in weights[s])
                    {
                        BatchedMatrixKernel.Multiply(w, WeightFormat.Float32, shapes[s].Outputs, shapes[s].Inputs, x, batch, 0, y);
                    }
                }
            });
        }
        finally
        {
            NativeMemory.AlignedFree(x);
            NativeMemory.AlignedFree(y);
        }
    }

    /// <summary>
    /// The benchmark's one-stream pair in a fresh process, in the benchmark's order (six calls of Concurrent, the first
    /// being its warm-up, then six of Serialised): the wall time of each call and the JIT compilation time and methods
    /// compiled during it, on every thread (tier-1 recompilation runs on a background thread, beside the step's two workers).
    /// </summary>
    private static void ProfileLoneStream()
    {
        var benchmark = new ConcurrentGenerationBenchmarks { Streams = 1 };
        benchmark.Setup();
        try
        {
            foreach (var (name, call) in new (string, Func<Task<int>>)[] { ("Concurrent", benchmark.Concurrent), ("Serialised", benchmark.Serialised) })
            {
                for (int r = 0; r < 6; r++)
                {
                    var jit = System.Runtime.JitInfo.GetCompilationTime();
                    long methods = System.Runtime.JitInfo.GetCompiledMethodCount();
                    var watch = Stopwatch.StartNew();
                    call().GetAwaiter().GetResult();
                    double wall = watch.Elapsed.TotalMilliseconds;
                    Console.WriteLine($"{name} call {r}: {wall,6:F0} ms; JIT during it {(System.Runtime.JitInfo.GetCompilationTime() - jit).TotalMilliseconds,5:F0} ms, " +
                        $"{System.Runtime.JitInfo.GetCompiledMethodCount() - methods,4} methods");
                }
            }
        }
        finally
        {
            benchmark.Cleanup();
        }
    }

    private static double Median(List<double> times)
    {
        var sorted = times.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static nint RandomMatrix(long elements, int seed)
    {
        var w = (float*)NativeMemory.AlignedAlloc((nuint)(elements * sizeof(float)), 64);
        var random = new Random(seed);
        for (long i = 0; i < elements; i++)
        {
            w[i] = ((float)random.NextDouble() - 0.5f) * 0.04f;
        }

        return (nint)w;
    }

    private static double Time(Action action)
    {
        action();
        var times = new List<double>();
        for (int i = 0; i < Repeats; i++)
        {
            if (Environment.ProcessorCount == 1)
            {
                double start = ThreadCpuTime.Seconds();
                action();
                times.Add((ThreadCpuTime.Seconds() - start) * 1000);
            }
            else
            {
                long start = Stopwatch.GetTimestamp();
                action();
                times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }

        return Environment.ProcessorCount == 1 ? times.Min() : Median(times);
    }
}
