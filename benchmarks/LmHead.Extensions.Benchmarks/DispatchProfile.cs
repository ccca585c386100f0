using System.Diagnostics;
using LmHead.Extensions.Decoding.Cpu;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: the cost of handing a decode step's short loops to the second core (<c>--profile-dispatch</c>):
/// loops of 24 items of about 4 us each (a 768 -> 768 layer's size), alternately by <see cref="KernelParallel"/> and by
/// <see cref="Parallel.For(int, int, Action{int})"/>, medians and quartiles of wall time per loop.
/// </summary>
internal static class DispatchProfile
{
    internal static void Run()
    {
        const int loops = 4000, items = 24;
        var sink = new double[items];
        void Body(int i)
        {
            double x = i;
            for (int k = 0; k < 4000; k++)
            {
                x = (x * 0.999999) + 1e-9;
            }

            sink[i] = x;
        }

        var times = new List<double>[] { [], [] };
        for (int r = 0; r < loops; r++)
        {
            bool workers = r % 2 == 0;
            long start = Stopwatch.GetTimestamp();
            if (workers)
            {
                KernelParallel.For(items, Body);
            }
            else
            {
                Parallel.For(0, items, Body);
            }

            times[workers ? 0 : 1].Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }

        double serial = double.MaxValue;
        for (int r = 0; r < 200; r++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < items; i++)
            {
                Body(i);
            }

            serial = Math.Min(serial, Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }

        Console.WriteLine($"{loops / 2} loops of {items} items each way; one thread alone, least: {serial:F1} us");
        Console.WriteLine($"  KernelParallel: {Quartiles(times[0])}");
        Console.WriteLine($"  Parallel.For:   {Quartiles(times[1])}");
    }

    private static string Quartiles(List<double> values)
    {
        var s = values.Order().ToArray();
        return $"quartiles {s[s.Length / 4]:F1} / {s[s.Length / 2]:F1} / {s[3 * s.Length / 4]:F1} us, least {s[0]:F1} us";
    }
}
