using System.Runtime.InteropServices;
using LmHead.Extensions.Models;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: one decode step's attention of a GPT-2-small shape (12 layers of 12 heads of 64, one query each)
/// over caches of <c>position</c> rows (<c>--profile-attention seconds position</c>, run W-half), by
/// <see cref="Gpt2DecodeKernels.Attend"/> and by the reference order <see cref="Gpt2DecodeKernels.AttendInOrder"/> (the
/// kernel before run W-half) alternately, on one thread; every layer's cache distinct, so that the rows come from memory
/// as in a step. Thread CPU time per step, least and lower quartile.
/// </summary>
internal static unsafe class AttentionProfile
{
    private const int Layers = 12, Heads = 12, HeadSize = 64;

    internal static void Run(double seconds, int position)
    {
        foreach (var format in new[] { WeightFormat.Float16, WeightFormat.BFloat16, WeightFormat.Float32 })
        {
            int elementSize = format == WeightFormat.Float32 ? 4 : 2;
            long headBytes = (long)position * HeadSize * elementSize;
            long bytes = Layers * Heads * headBytes;
            byte* keys = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64), values = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            float* query = (float*)NativeMemory.AlignedAlloc(HeadSize * sizeof(float), 64), output = (float*)NativeMemory.AlignedAlloc(HeadSize * sizeof(float), 64);
            float* scores = (float*)NativeMemory.AlignedAlloc((nuint)(((position + 7) & ~7) * sizeof(float)), 64);
            try
            {
                var random = new Random(5);
                var row = new float[HeadSize];
                for (long r = 0; r < bytes / (HeadSize * elementSize); r++)
                {
                    for (int i = 0; i < HeadSize; i++)
                    {
                        row[i] = (float)(random.NextDouble() - 0.5) * 2;
                    }

                    fixed (float* source = row)
                    {
                        Gpt2DecodeKernels.Store(source, keys + (r * HeadSize * elementSize), HeadSize, format);
                        Gpt2DecodeKernels.Store(source, values + (r * HeadSize * elementSize), HeadSize, format);
                    }
                }

                for (int i = 0; i < HeadSize; i++)
                {
                    query[i] = (float)(random.NextDouble() - 0.5);
                }

                var times = new List<double>[] { [], [] };
                var clock = System.Diagnostics.Stopwatch.StartNew();
                for (int step = 0; clock.Elapsed.TotalSeconds < seconds; step++)
                {
                    bool reference = step % 2 == 1;
                    double start = ThreadCpuTime.Seconds();
                    for (int head = 0; head < Layers * Heads; head++)
                    {
                        byte* k = keys + (head * headBytes), v = values + (head * headBytes);
                        if (reference)
                        {
                            Gpt2DecodeKernels.AttendInOrder(query, k, v, position, HeadSize, format, null, scores, output);
                        }
                        else
                        {
                            Gpt2DecodeKernels.Attend(query, k, v, position, HeadSize, format, null, scores, output);
                        }
                    }

                    times[step % 2].Add((ThreadCpuTime.Seconds() - start) * 1000);
                }

                var fast = times[0].Order().ToArray();
                var old = times[1].Order().ToArray();
                Console.WriteLine($"{format} at position {position}, one step's attention ({bytes * 2 >> 20} MiB of cache), thread CPU ms: " +
                    $"Attend least {fast[0]:F3}, lower quartile {fast[fast.Length / 4]:F3}; AttendInOrder least {old[0]:F3}, lower quartile {old[old.Length / 4]:F3}");
            }
            finally
            {
                NativeMemory.AlignedFree(keys);
                NativeMemory.AlignedFree(values);
                NativeMemory.AlignedFree(query);
                NativeMemory.AlignedFree(output);
                NativeMemory.AlignedFree(scores);
            }
        }
    }
}
