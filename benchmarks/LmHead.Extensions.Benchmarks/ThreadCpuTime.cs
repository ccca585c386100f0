using System.Runtime.InteropServices;

namespace LmHead.Extensions.Benchmarks;

/// <summary>This thread's CPU time (<c>CLOCK_THREAD_CPUTIME_ID</c>): time slices other processes take do not count.</summary>
internal static class ThreadCpuTime
{
    public static double Seconds()
    {
        const int ThreadCpuTimeClock = 3;
        return ClockGetTime(ThreadCpuTimeClock, out var t) == 0 ? t.Seconds + (t.Nanoseconds * 1e-9) : throw new InvalidOperationException("clock_gettime failed.");
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    [StructLayout(LayoutKind.Sequential)]
    private readonly struct TimeSpec
    {
        public readonly long Seconds;
        public readonly long Nanoseconds;
    }
}
