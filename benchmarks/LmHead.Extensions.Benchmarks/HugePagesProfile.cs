using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: whether 2 MiB pages under the weights speed up a decode step (<c>--profile-huge-pages seconds
/// position</c>, meant for <c>DOTNET_PROCESSOR_COUNT=1</c>): two float16 GPT-2-small-shaped sessions in one process, one
/// created with <c>LMHEAD_HUGE_PAGES=0</c> (4 KiB pages), one as the library allocates by default (2 MiB pages where
/// <see cref="TransparentHugePages.Zeros"/> gets them), stepped alternately so that both see the same load; thread CPU
/// time per step, least and lower quartile (run W-half).
/// </summary>
internal static class HugePagesProfile
{
    internal static void Run(double seconds, int position)
    {
        Environment.SetEnvironmentVariable("LMHEAD_HUGE_PAGES", "0");
        using var plain = new DecodeSession(ScalarType.Float16, position);
        Environment.SetEnvironmentVariable("LMHEAD_HUGE_PAGES", null);
        using var huge = new DecodeSession(ScalarType.Float16, position);

        var times = new List<double>[] { [], [] };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int step = 0; clock.Elapsed.TotalSeconds < seconds; step++)
        {
            var session = step % 2 == 0 ? plain : huge;
            double start = ThreadCpuTime.Seconds();
            session.Step();
            times[step % 2].Add((ThreadCpuTime.Seconds() - start) * 1000);
        }

        string[] names = ["4 KiB pages", "2 MiB pages"];
        for (int i = 0; i < 2; i++)
        {
            var sorted = times[i].Order().ToArray();
            Console.WriteLine($"{names[i]} at position {position}: {sorted.Length} steps, thread CPU ms per step: least {sorted[0]:F2}, lower quartile {sorted[sorted.Length / 4]:F2}, median {sorted[sorted.Length / 2]:F2}");
        }
    }
}
