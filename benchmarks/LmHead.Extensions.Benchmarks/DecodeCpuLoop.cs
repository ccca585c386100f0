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

    /// <summary>
    /// An A/B of one kernel switch in one process: steps alternate between the switch off and on (so both see the same
    /// load), and each side's least, lower quartile and median thread CPU time are printed with their ratio
    /// (<c>--cpu-decode-ab seconds position dtype switch</c>; docs/benchmarks.md, run Y).
    /// </summary>
    internal static void RunAb(double seconds, int position, ScalarType type, string name)
    {
        if (name == "flush-subnormals")
        {
            RunTwoModels(seconds, position, type);
            return;
        }

        Action<bool> set = name switch
        {
            "copies" => on => LmHead.Extensions.Decoding.Cpu.Float16WeightScan.CopiesEnabled = on,
            "scan-once" => on => LmHead.Extensions.Decoding.Cpu.Float16WeightScan.Enabled = on,
            _ => throw new ArgumentException($"unknown switch '{name}'; known: scan-once, copies, flush-subnormals", nameof(name)),
        };

        using var session = new DecodeSession(type, position);

        // One step with the switch on first: a scan made while it is off (copies) would not hold what the on side reads.
        set(true);
        session.Step();
        var times = new[] { new List<double>(), new List<double>() };
        var walls = new[] { new List<double>(), new List<double>() };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; clock.Elapsed.TotalSeconds < seconds; i++)
        {
            bool on = (i & 1) == 1;
            set(on);
            double start = ThreadCpuTime.Seconds();
            long wallStart = System.Diagnostics.Stopwatch.GetTimestamp();
            session.Step();
            times[on ? 1 : 0].Add((ThreadCpuTime.Seconds() - start) * 1000);
            walls[on ? 1 : 0].Add(System.Diagnostics.Stopwatch.GetElapsedTime(wallStart).TotalMilliseconds);
        }

        set(true);
        double[][] wallSorted = [.. walls.Select(t => t.Skip(t.Count / 10).Order().ToArray())];
        Console.WriteLine($"wall ms per step, median: off {wallSorted[0][wallSorted[0].Length / 2]:F2}, on {wallSorted[1][wallSorted[1].Length / 2]:F2}, on / off {wallSorted[1][wallSorted[1].Length / 2] / wallSorted[0][wallSorted[0].Length / 2]:F3}");
        double[][] sorted = [.. times.Select(t => t.Skip(t.Count / 10).Order().ToArray())];
        for (int side = 0; side < 2; side++)
        {
            var t = sorted[side];
            Console.WriteLine($"{type} at position {position}, {name} {(side == 1 ? "on " : "off")}: {t.Length} steps, thread CPU ms per step: least {t[0]:F2}, lower quartile {t[t.Length / 4]:F2}, median {t[t.Length / 2]:F2}");
        }

        Console.WriteLine($"on / off: least {sorted[1][0] / sorted[0][0]:F3}, lower quartile {sorted[1][sorted[1].Length / 4] / sorted[0][sorted[0].Length / 4]:F3}, median {sorted[1][sorted[1].Length / 2] / sorted[0][sorted[0].Length / 2]:F3}");
    }

    /// <summary>
    /// The same A/B between two models: the random one and a copy whose float16 subnormal weights (magnitude below
    /// 2^-14) are zero, to see what subnormal weights cost the step.
    /// </summary>
    private static void RunTwoModels(double seconds, int position, ScalarType type)
    {
        using var plain = new DecodeSession(type, position);
        using var flushed = new DecodeSession(type, position);
        long zeroed = 0;
        using (no_grad())
        {
            foreach (var (_, parameter) in flushed.Model.named_parameters())
            {
                using var small = parameter.abs().lt(6.1035156e-5).logical_and(parameter.ne(0));
                zeroed += small.sum().item<long>();
                parameter.masked_fill_(small, 0);
            }
        }

        Console.WriteLine($"subnormal weights set to zero in the second model: {zeroed}");
        double[][] sorted = Alternate(plain, flushed, seconds);
        Console.WriteLine($"wall ms per step, median: with subnormals {sorted[0][sorted[0].Length / 2]:F2}, flushed {sorted[1][sorted[1].Length / 2]:F2}, flushed / with {sorted[1][sorted[1].Length / 2] / sorted[0][sorted[0].Length / 2]:F3}; lower quartiles {sorted[0][sorted[0].Length / 4]:F2} / {sorted[1][sorted[1].Length / 4]:F2}");
    }

    /// <summary>
    /// Two dtypes of the same random model, alternating step by step in one process (<c>--cpu-decode-vs SECONDS POSITION
    /// DTYPE DTYPE</c>): median wall time per step of each and their ratio.
    /// </summary>
    internal static void RunVersus(double seconds, int position, ScalarType first, ScalarType second)
    {
        using var a = new DecodeSession(first, position);
        using var b = new DecodeSession(second, position);
        double[][] sorted = Alternate(a, b, seconds);
        double m0 = sorted[0][sorted[0].Length / 2], m1 = sorted[1][sorted[1].Length / 2];
        Console.WriteLine($"position {position}, wall ms per step, median: {first} {m0:F2}, {second} {m1:F2}, {first} / {second} {m0 / m1:F3}");
    }

    /// <summary>Steps two sessions alternately for <paramref name="seconds"/>; each side's wall times in ms, sorted, the first tenth dropped.</summary>
    private static double[][] Alternate(DecodeSession first, DecodeSession second, double seconds)
    {
        var walls = new[] { new List<double>(), new List<double>() };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; clock.Elapsed.TotalSeconds < seconds; i++)
        {
            int side = i & 1;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            (side == 0 ? first : second).Step();
            walls[side].Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        return [.. walls.Select(t => t.Skip(t.Count / 10).Order().ToArray())];
    }
}
