using System.Runtime.Intrinsics;

namespace LmHead.Extensions.Benchmarks;

/// <summary>The memory-bandwidth reference shared by the benchmark classes: a SIMD sum over an array on both cores.</summary>
internal static class MemoryBandwidth
{
    /// <summary>
    /// A stream of <paramref name="count"/> floats with every page written. A fresh large array is never touched by the
    /// runtime (the OS gives zeroed pages), so its pages all map the kernel's shared zero page and "reading" it runs from
    /// cache: a 2 GB untouched array read in 14 ms (140 GB/s) on a machine whose memory reads at about 45 GB/s.
    /// </summary>
    internal static float[] Stream(long count)
    {
        var stream = new float[count];
        Array.Fill(stream, 1f);
        return stream;
    }

    /// <summary>Reads every float of <paramref name="stream"/> once (bytes / time = read bandwidth).</summary>
    internal static float Sum(float[] stream)
    {
        const int parts = 8;
        var sums = new float[parts];
        int length = stream.Length / parts;
        Parallel.For(0, parts, p =>
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            ref float start = ref stream[p * length];
            for (int i = 0; i <= length - 16; i += 16)
            {
                acc0 += Vector256.LoadUnsafe(ref start, (nuint)i);
                acc1 += Vector256.LoadUnsafe(ref start, (nuint)(i + 8));
            }

            sums[p] = Vector256.Sum(acc0 + acc1);
        });
        return sums.Sum();
    }
}
