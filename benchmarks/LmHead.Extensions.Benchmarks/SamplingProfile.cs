using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: where top-k 50 and top-p without a top-k spend their time (<c>--profile-sampling</c>), for docs/benchmarks.md.
/// Times the one-pass floor of <see cref="SamplingBenchmarks"/>, the maximum pass, the fused normaliser pass and the
/// whole row sampler on the benchmark's peaked (<c>randn · 3</c>) and flat (<c>randn</c>) rows, as the least thread CPU
/// time per call over repeated batches of calls, which other processes' load does not inflate; each is first called for
/// 300 ms, so the optimised code is timed. On flat rows it also times the passes of the binned top-p (<see cref="NucleusCrossing"/>).
/// </summary>
internal static class SamplingProfile
{
    private const int Vocabulary = 50257;
    private const float Temperature = 0.7f;

    internal static void Run()
    {
        RunTopK();
        foreach (float scale in new[] { 3f, 1f })
        {
            float[] row;
            using (var logits = randn(Vocabulary, generator: new Generator(1)).mul(scale))
            {
                row = logits.data<float>().ToArray();
            }

            var plan = DecodingPipeline.Create(new DecodingOptions { Temperature = Temperature, TopK = null, TopP = 0.9f }).CpuPlan!;
            var all = DecodingPipeline.Create(new DecodingOptions { Temperature = Temperature, TopK = null }).CpuPlan!;
            var sampler = new CpuRowSampler(plan, 0);
            var whole = new CpuRowSampler(all, 0);
            var random = new SamplingRandom(7);
            RowScan.Run(row, null, null, float.NegativeInfinity, out float max);
            float maxProcessed = max / Temperature;
            int[] ids = [];
            float[] weights = [];
            Console.WriteLine($"row randn * {scale} (T = {Temperature}, V = {Vocabulary}): least thread CPU time per call, us");
            Report("one-pass floor", () => SamplingBenchmarks.MaxOf(row));
            Report("maximum (RowScan.Run)", () => RowScan.Run(row, null, null, float.NegativeInfinity, out _));
            Report("NucleusPass.NormaliserAndCollect", () => NucleusPass.NormaliserAndCollect(row, Temperature, maxProcessed, ref ids, ref weights, out _));
            double total = NucleusPass.NormaliserAndCollect(row, Temperature, maxProcessed, ref ids, ref weights, out int near);
            Console.WriteLine($"  ({near} entries within {NucleusPass.CollectWidth} of the maximum)");
            Report("NucleusPass.NarrowestWidth", () => NucleusPass.NarrowestWidth(row, ids.AsSpan(0, near), weights.AsSpan(0, near), Temperature, maxProcessed, total, 0.9f));
            double[] mass = new double[NucleusCrossing.BinCount];
            Report("NucleusCrossing.Histogram", () => NucleusCrossing.Histogram(weights.AsSpan(0, near), mass));
            NucleusCrossing.Histogram(weights.AsSpan(0, near), mass);
            bool zoneFound = NucleusCrossing.FindZone(mass, total, 0.9f, out int zoneLow, out int zoneHigh, out _);
            int[] zone = [];
            Console.WriteLine($"  (zone found: {zoneFound}, bins {zoneLow}-{zoneHigh}, {NucleusCrossing.CollectZone(weights.AsSpan(0, near), zoneLow, zoneHigh, ref zone)} entries)");
            Report("NucleusCrossing.CollectZone", () => NucleusCrossing.CollectZone(weights.AsSpan(0, near), zoneLow, zoneHigh, ref zone));
            Report("row sampler, k = V", () => whole.Sample(row, random.NextDouble()));
            Report("row sampler, top-p 0.9", () => sampler.Sample(row, random.NextDouble()));
        }
    }

    /// <summary>The top-k 50 case of <see cref="SamplingBenchmarks"/> (peaked row) piece by piece, and the bytes each call allocates.</summary>
    private static void RunTopK()
    {
        using var logits = randn(Vocabulary, generator: new Generator(1)).mul(3f);
        float[] row = logits.data<float>().ToArray();
        var options = new DecodingOptions { Temperature = Temperature, TopK = 50 };
        var pipeline = DecodingPipeline.Create(options);
        var bare = new CpuRowSampler(pipeline.CpuPlan!, 0);
        var withCandidates = new CpuRowSampler(pipeline.CpuPlan!, 10);
        var random = new SamplingRandom(7);
        var buffer = new RankedEntry[100];
        var keys = new float[100];
        Console.WriteLine($"top-k 50, row randn * 3 (T = {Temperature}, V = {Vocabulary}): least thread CPU time per call, us");
        Report("one-pass floor", () => SamplingBenchmarks.MaxOf(row));
        Report("maximum (RowScan.Run)", () => RowScan.Run(row, null, null, float.NegativeInfinity, out _));
        Report("RowScan.EstimateFloor(k = 50)", () => RowScan.EstimateFloor(row, 50));
        float floor = RowScan.EstimateFloor(row, 50);
        Report("BufferedTopK.Run (with the floor)", () => BufferedTopK.Run(row, 50, floor, buffer, keys, out _, out _));
        float[] maxima = new float[(Vocabulary + BlockTopK.Block - 1) / BlockTopK.Block];
        Report("BlockTopK.BlockMaxima", () => BlockTopK.BlockMaxima(row, maxima, out _));
        Report("read floor (8 x 16-lane maxima, no reduction)", () => ReadFloor(row));
        BlockTopK.BlockMaxima(row, maxima, out float rowMax);
        Report("BlockTopK.Floor", () => BlockTopK.Floor(maxima, 50, rowMax));
        float blockFloor = BlockTopK.Floor(maxima, 50, rowMax);
        var found = row.Select((v, id) => new RankedEntry(v, v, id)).Where(e => e.Key >= blockFloor).ToArray();
        Console.WriteLine($"  (floor {blockFloor}: {BlockTopK.Reaching(maxima, blockFloor)} of {maxima.Length} block maxima and {found.Length} values reach it)");
        var scratch = new RankedEntry[found.Length];
        Report($"BufferedTopK.Compact ({found.Length} to 50)", () => { found.CopyTo(scratch, 0); BufferedTopK.Compact(scratch, keys, found.Length, 50, out _); });
        float[] runMaxima = [];
        Report("BlockTopK.Run", () => BlockTopK.Run(row, 50, ref runMaxima, buffer, keys, out _, out _));
        Report("row sampler, top-k 50, no candidates", () => bare.Sample(row, random.NextDouble()));
        Report("row sampler, top-k 50, 10 candidates", () => withCandidates.Sample(row, random.NextDouble()));
        var withoutBlocks = new CpuRowSampler(pipeline.CpuPlan!, 10) { UseBlockMaxima = false };
        Report("  the same without block maxima", () => withoutBlocks.Sample(row, random.NextDouble()));
        Report("pipeline NextToken (fast path)", () => pipeline.NextToken(logits, random));
        Report("  tensor: device_type + dtype", () => _ = logits.device_type == TorchSharp.DeviceType.CPU && logits.dtype == ScalarType.Float32);
        Report("  tensor: dim() + size(0)", () => _ = logits.dim() + logits.size(0));
        Report("  tensor: is_contiguous()", () => logits.is_contiguous());
        Report("  tensor: bytes", () => _ = logits.bytes.Length);
        Report("  random.NextDouble()", () => random.NextDouble());
        Allocated("row sampler, top-k 50, 10 candidates", () => withCandidates.Sample(row, random.NextDouble()));
        Allocated("pipeline NextToken (fast path)", () => pipeline.NextToken(logits, random));
    }

    /// <summary>The least a pass over the row can cost: eight independent 16-lane maxima, no NaN check, no reduction per block.</summary>
    private static float ReadFloor(float[] row)
    {
        ref float first = ref row[0];
        var a = System.Runtime.Intrinsics.Vector512.Create(float.NegativeInfinity);
        var b = a;
        var c = a;
        var d = a;
        int i = 0;
        for (; i <= row.Length - 64; i += 64)
        {
            a = System.Runtime.Intrinsics.Vector512.MaxNative(a, System.Runtime.Intrinsics.Vector512.LoadUnsafe(ref first, (nuint)i));
            b = System.Runtime.Intrinsics.Vector512.MaxNative(b, System.Runtime.Intrinsics.Vector512.LoadUnsafe(ref first, (nuint)i + 16));
            c = System.Runtime.Intrinsics.Vector512.MaxNative(c, System.Runtime.Intrinsics.Vector512.LoadUnsafe(ref first, (nuint)i + 32));
            d = System.Runtime.Intrinsics.Vector512.MaxNative(d, System.Runtime.Intrinsics.Vector512.LoadUnsafe(ref first, (nuint)i + 48));
        }

        return System.Runtime.Intrinsics.Vector512.Max(System.Runtime.Intrinsics.Vector512.Max(a, b), System.Runtime.Intrinsics.Vector512.Max(c, d))[0];
    }

    private static void Allocated(string name, Action action)
    {
        action();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int c = 0; c < 1000; c++)
        {
            action();
        }

        Console.WriteLine($"  {name,-40} {(GC.GetAllocatedBytesForCurrentThread() - before) / 1000.0,10:F0} bytes allocated per call");
    }

    private static void Report(string name, Action action)
    {
        // Long enough for tiered compilation to replace the first, unoptimised code (it waits 100 ms and 30 calls).
        for (long end = Environment.TickCount64 + 300; Environment.TickCount64 < end;)
        {
            action();
        }

        int calls = 1;
        double once = Time(action, 1);
        while (calls * once < 2e-3)
        {
            calls *= 2;
        }

        double least = double.MaxValue;
        for (int repeat = 0; repeat < 15; repeat++)
        {
            least = Math.Min(least, Time(action, calls) / calls);
        }

        Console.WriteLine($"  {name,-40} {least * 1e6,10:F2}");
    }

    private static double Time(Action action, int calls)
    {
        double start = ThreadCpuTime.Seconds();
        for (int c = 0; c < calls; c++)
        {
            action();
        }

        return ThreadCpuTime.Seconds() - start;
    }
}
