using System.Runtime.ExceptionServices;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// A parallel loop for the short kernels of a decode step (a linear layer, the head, attention): the calling thread and
/// one persistent worker per other core take items from a shared counter. A step runs about 50 such loops of 30-300 us
/// each; <see cref="Parallel.For(int, int, Action{int})"/> hands every one to the thread pool, whose wake-up and
/// bookkeeping is a noticeable part of such a loop on two cores. The workers here spin for a short while after a loop
/// (<see cref="SpinIterations"/>), so the next loop of the same step finds them awake, and then sleep.
/// </summary>
/// <remarks>
/// One loop at a time owns the workers; a loop that starts while another runs (another thread's step, or a loop inside
/// an item) takes <see cref="Parallel.For(int, int, Action{int})"/> instead. Which items a thread runs never changes a result: every
/// item writes its own outputs.
/// </remarks>
internal static class KernelParallel
{
    /// <summary>How long an idle worker spins (SpinWait iterations without sleeping) before it blocks: some tens of microseconds.</summary>
    private const int SpinIterations = 2000;

    private static int _owned;
    private static readonly Worker[] Workers = CreateWorkers();
    private static Loop? _current;

    /// <summary>The threads a loop runs on: the caller and the persistent workers.</summary>
    internal static int Threads => Workers.Length + 1;

    /// <summary>Whether loops use the persistent workers (true) or <see cref="Parallel.For(int, int, Action{int})"/>; for comparisons.</summary>
    internal static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("LMHEAD_KERNEL_PARALLEL") != "0";

    /// <summary>
    /// The blocks [0, <paramref name="count"/>) of a kernel call: with <see cref="For"/> when <paramref name="parallel"/>
    /// and there is more than one block and more than one core, otherwise in order on the calling thread.
    /// </summary>
    public static void Blocks(int count, Action<int> body, bool parallel = true)
    {
        if (parallel && count > 1 && Environment.ProcessorCount > 1)
        {
            For(count, body);
            return;
        }

        for (int block = 0; block < count; block++)
        {
            body(block);
        }
    }

    /// <summary>Runs <paramref name="body"/> for every item in [0, <paramref name="count"/>) on all cores; rethrows the first exception.</summary>
    public static void For(int count, Action<int> body)
    {
        // A flag rather than a lock: a lock is re-entrant, and a loop nested in an item on the owning thread must not take
        // over the workers of the loop it runs in.
        if (!Enabled || Workers.Length == 0 || count < 2 || Interlocked.CompareExchange(ref _owned, 1, 0) != 0)
        {
            Parallel.For(0, count, body);
            return;
        }

        try
        {
            var loop = new Loop(count, body);
            Volatile.Write(ref _current, loop);
            Interlocked.MemoryBarrier();
            foreach (var worker in Workers)
            {
                worker.Wake();
            }

            loop.Work();
            var spinner = default(SpinWait);
            while (Volatile.Read(ref loop.Completed) < count)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            Volatile.Write(ref _current, null);
            if (loop.Error is { } error)
            {
                error.Throw();
            }
        }
        finally
        {
            Volatile.Write(ref _owned, 0);
        }
    }

    private static Worker[] CreateWorkers() =>
        [.. Enumerable.Range(0, Math.Min(Environment.ProcessorCount - 1, 15)).Select(i => new Worker(i))];

    /// <summary>One loop's items; threads claim them one at a time.</summary>
    private sealed class Loop(int count, Action<int> body)
    {
        public int Next;
        public int Completed;
        public ExceptionDispatchInfo? Error;

        public void Work()
        {
            int item;
            while ((item = Interlocked.Increment(ref Next) - 1) < count)
            {
                try
                {
                    body(item);
                }
                catch (Exception exception)
                {
                    Interlocked.CompareExchange(ref Error, ExceptionDispatchInfo.Capture(exception), null);
                }

                Interlocked.Increment(ref Completed);
            }
        }
    }

    /// <summary>A background thread that runs the current loop's items, spins a while for the next loop, then sleeps.</summary>
    /// <remarks>Lives as long as the process, as a thread pool's threads do, so its event is never disposed.</remarks>
#pragma warning disable CA1001 // The event is waited on by the worker thread for the whole life of the process.
    private sealed class Worker
    {
        private readonly ManualResetEventSlim _signal = new(false, spinCount: 0);
        private int _sleeping;

        public Worker(int index)
        {
            var thread = new Thread(Run) { IsBackground = true, Name = $"LmHead kernel worker {index}" };
            thread.Start();
        }

        public void Wake()
        {
            if (Volatile.Read(ref _sleeping) != 0)
            {
                _signal.Set();
            }
        }

        private void Run()
        {
            Loop? last = null;
            while (true)
            {
                var loop = WaitForLoop(last);
                loop.Work();
                last = loop;
            }
        }

        private Loop WaitForLoop(Loop? last)
        {
            var spinner = default(SpinWait);
            for (int spins = 0; ; spins++)
            {
                var loop = Volatile.Read(ref _current);
                if (loop is not null && loop != last)
                {
                    return loop;
                }

                if (spins < SpinIterations)
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                    continue;
                }

                // Announce the sleep, then look once more: a loop published before the announcement is seen here, one after
                // it finds the flag set and wakes this worker (both sides write, fence, then read).
                _signal.Reset();
                Interlocked.Exchange(ref _sleeping, 1);
                loop = Volatile.Read(ref _current);
                if (loop is null || loop == last)
                {
                    _signal.Wait();
                }

                Interlocked.Exchange(ref _sleeping, 0);
                spins = 0;
            }
        }
    }
#pragma warning restore CA1001
}
