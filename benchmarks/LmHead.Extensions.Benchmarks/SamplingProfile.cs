using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: where top-p without a top-k spends its time (<c>--profile-sampling</c>), for docs/benchmarks.md.
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
