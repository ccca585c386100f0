using System.Runtime.InteropServices;
using LmHead.Extensions.Decoding.Cpu;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Benchmarks;

/// <summary>
/// Not a benchmark: one thread's rate of the batch-1 kernels per weight dtype (<c>--profile-gemv</c>, docs/benchmarks.md
/// run Z): GPT-2 small's head (<see cref="MatrixVectorKernel"/>) and three linear shapes (<see cref="BatchedMatrixKernel"/>),
/// in GB/s of weights by thread CPU time, read from memory (distinct copies, as in a step) and cache-resident (a 64-row
/// block read 400 times). float16 twice: uniform weights without subnormals, and GPT-2's N(0, 0.02²) initialisation, whose
/// subnormal chunks the kernels widen exactly (<see cref="Float16WeightScan"/>). Where the resident rate is not far above
/// the memory rate, the kernel's arithmetic is not hidden behind its loads.
/// </summary>
internal static unsafe class GemvProfile
{
    internal static void Run(bool twoThreads = false)
    {
        if (twoThreads)
        {
            RunParallel();
            return;
        }

        int d = 768;
        foreach (var (o, i) in new[] { (50257, d), (3 * d, d), (4 * d, d), (d, 4 * d) })
        {
            foreach (var (f, gauss) in new[] { (WeightFormat.Float32, false), (WeightFormat.Float16, false), (WeightFormat.Float16, true), (WeightFormat.BFloat16, false) })
            {
                double mem = 0, res = 0;
                for (int round = 0; round < 3; round++)
                {
                    mem = Math.Max(mem, Rate(f, o, i, o > 10000 ? 2 : 24, 1, gauss, head: o > 10000));
                    res = Math.Max(res, Rate(f, 64, i, 1, 400, gauss, head: o > 10000));
                }

                Console.WriteLine($"{o}x{i} {f}{(gauss ? " N(0,0.02)" : string.Empty)}: memory {mem:F1} GB/s, resident {res:F1} GB/s");
            }
        }
    }

    /// <summary>
    /// <c>--profile-gemv parallel</c>: the same kernels on all cores (<c>parallel: true</c>, wall time) from memory, each
    /// round beside a SIMD sum over as many bytes (<see cref="MemoryBandwidth.Sum"/>): how close each dtype's kernel comes
    /// to the cores' read rate of the same minute.
    /// </summary>
    private static void RunParallel()
    {
        int d = 768;
        var stream = MemoryBandwidth.Stream(96L << 20);
        foreach (var (o, i) in new[] { (50257, d), (3 * d, d), (4 * d, d), (d, 4 * d) })
        {
            foreach (var (f, gauss) in new[] { (WeightFormat.Float32, false), (WeightFormat.Float16, false), (WeightFormat.Float16, true), (WeightFormat.BFloat16, false) })
            {
                int size = f == WeightFormat.Float32 ? 4 : 2;
                int copies = (int)Math.Max(2, (384L << 20) / ((long)o * i * size));
                var kernel = new List<double>();
                var sum = new List<double>();
                for (int round = 0; round < 5; round++)
                {
                    kernel.Add(Rate(f, o, i, copies, 1, gauss, head: o > 10000, parallel: true));
                    var start = System.Diagnostics.Stopwatch.GetTimestamp();
                    MemoryBandwidth.Sum(stream);
                    sum.Add(stream.Length * 4.0 / System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9);
                }

                kernel.Sort();
                sum.Sort();
                Console.WriteLine($"{o}x{i} {f}{(gauss ? " N(0,0.02)" : string.Empty)}: kernel {kernel[2]:F1} GB/s, sum {sum[2]:F1} GB/s, ratio {kernel[2] / sum[2]:F2}");
            }
        }
    }

    private static double Rate(WeightFormat f, int outputs, int inputs, int copies, int calls, bool gauss, bool head, bool parallel = false)
    {
        int size = f == WeightFormat.Float32 ? 4 : 2;
        var random = new Random(1);
        var weights = new nint[copies];
        for (int c = 0; c < copies; c++)
        {
            weights[c] = (nint)NativeMemory.AlignedAlloc((nuint)((long)outputs * inputs * size), 64);
            if (c > 0)
            {
                Buffer.MemoryCopy((void*)weights[0], (void*)weights[c], (long)outputs * inputs * size, (long)outputs * inputs * size);
                continue;
            }

            for (long e = 0; e < (long)outputs * inputs; e++)
            {
                float v = gauss
                    ? (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))
                    : (float)(random.NextDouble() - 0.5) * 0.1f;
                if (f == WeightFormat.Float32)
                {
                    ((float*)weights[c])[e] = v;
                }
                else if (f == WeightFormat.Float16)
                {
                    ((ushort*)weights[c])[e] = BitConverter.HalfToUInt16Bits((Half)(gauss || Math.Abs(v) >= 1e-4f ? v : 1e-3f));
                }
                else
                {
                    ((ushort*)weights[c])[e] = (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16);
                }
            }
        }
        var x = (float*)NativeMemory.AlignedAlloc((nuint)inputs * 4, 64);
        for (int e = 0; e < inputs; e++)
        {
            x[e] = (float)random.NextDouble();
        }

        var y = (float*)NativeMemory.AlignedAlloc((nuint)outputs * 4, 64);
        int chunks = inputs / 32, words = (chunks + 63) / 64;
        var masks = new ulong[outputs * words];
        for (int r = 0; r < outputs && f == WeightFormat.Float16; r++)
        {
            for (int c = 0; c < chunks; c++)
            {
                if (Float16WeightScan.HasSubnormal(new ReadOnlySpan<ushort>((ushort*)weights[0] + ((long)r * inputs) + (c * 32), 32)))
                {
                    masks[(r * words) + (c / 64)] |= 1UL << (c % 64);
                }
            }
        }

        fixed (ulong* m = masks)
        {
            return Measure(f, outputs, inputs, copies, calls, weights, x, y, new Float16WeightFacts(true, m, words), size, head, parallel);
        }
    }

    private static double Measure(WeightFormat f, int outputs, int inputs, int copies, int calls, nint[] weights, float* x, float* y, Float16WeightFacts facts, int size, bool head, bool parallel)
    {
        double best = double.MaxValue;
        for (int r = 0; r <= 3; r++)
        {
            double start = Now(parallel);
            for (int call = 0; call < calls; call++)
            {
                foreach (var w in weights)
                {
                    if (head)
                    {
                        MatrixVectorKernel.Multiply(w, f, outputs, inputs, (nint)x, 0, (nint)y, parallel: parallel, facts: facts);
                    }
                    else
                    {
                        BatchedMatrixKernel.Multiply(w, f, outputs, inputs, x, 1, 0, y, parallel: parallel, facts: facts);
                    }

                }
            }

            double s = Now(parallel) - start;
            if (r > 0)
            {
                best = Math.Min(best, s);
            }

        }
        foreach (var w in weights)
        {
            NativeMemory.AlignedFree((void*)w);
        }

        NativeMemory.AlignedFree(x); NativeMemory.AlignedFree(y);
        return (double)outputs * inputs * size * copies * calls / best / 1e9;
    }

    /// <summary>Seconds: wall time when the kernels run on all cores, else the calling thread's CPU time.</summary>
    private static double Now(bool wall) =>
        wall ? System.Diagnostics.Stopwatch.GetTimestamp() / (double)System.Diagnostics.Stopwatch.Frequency : ThreadCpuTime.Seconds();
}
