using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Top-p without a top-k in one vectorised pass after the maximum: the softmax normaliser of the whole row and, in the
/// same pass, every entry whose weight is above <c>exp(−</c><see cref="CollectWidth"/><c>)</c> (in id order, with its
/// float32 weight), so the window that holds p of the mass is chosen from a histogram of those entries instead of
/// measuring fixed widths over the row and scanning it again to collect them.
/// </summary>
/// <remarks>
/// The weights are those of <see cref="NucleusWindow.Normaliser"/> (<c>exp(x · (1/T) − maxProcessed)</c> by
/// <see cref="FastExp"/>), 16 lanes at a time with AVX-512 (8 with AVX2). A token ranked before the top-p crossing has a
/// probability at least that of the token at the crossing, so on a peaked row the window is a few dozen entries; on a
/// flat row most of the row is within <see cref="CollectWidth"/> and is collected (the cost is then a copy of the row,
/// as the widening windows of <see cref="NucleusWindow"/> would pay as well).
/// </remarks>
internal static class NucleusPass
{
    /// <summary>Entries with a processed logit more than this below the maximum are not collected.</summary>
    public const float CollectWidth = 8f;

    /// <summary>The widest window <see cref="NarrowestWidth"/> may return: well inside <see cref="CollectWidth"/>, so rounding of the weights cannot leave out an entry of the window.</summary>
    public const double WidestWindow = 7.5;

    /// <summary>Histogram bins per processed-logit unit.</summary>
    private const int BinsPerUnit = 8;

    /// <summary>
    /// The normaliser <c>Σ exp(x · (1/T) − maxProcessed)</c> (summed per block of 64 in float32, blocks in float64) and the
    /// entries above <c>exp(−</c><see cref="CollectWidth"/><c>)</c>: in <paramref name="entries"/> (grown as needed) with
    /// the raw logit as <see cref="RankedEntry.Raw"/> and the weight as <see cref="RankedEntry.Key"/>.
    /// Only for rows where <see cref="CpuRowSampler.UsesInverse"/> holds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double NormaliserAndCollect(ReadOnlySpan<float> row, float temperature, float maxProcessed, ref RankedEntry[] entries, out int count)
    {
        int n = row.Length;
        float inverse = 1f / temperature;
        float collectAbove = MathF.Exp(-CollectWidth);
        var sink = new Sink(entries);
        ref float source = ref MemoryMarshal.GetReference(row);
        Span<float> lanes = stackalloc float[16];
        double total = 0;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var inverseV = Vector512.Create(inverse);
            var offset = Vector512.Create(-maxProcessed);
            var collectV = Vector512.Create(collectAbove);
            for (; i <= n - 64; i += 64)
            {
                var acc = Vector512<float>.Zero;
                for (int j = i; j < i + 64; j += 16)
                {
                    var e = FastExp.Exp(Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)j), inverseV, offset));
                    acc += e;
                    ulong bits = Vector512.GreaterThan(e, collectV).ExtractMostSignificantBits();
                    if (bits != 0)
                    {
                        e.CopyTo(lanes);
                        sink.Add(ref source, j, bits, lanes);
                    }
                }

                total += Vector512.Sum(acc);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var inverseV = Vector256.Create(inverse);
            var offset = Vector256.Create(-maxProcessed);
            var collectV = Vector256.Create(collectAbove);
            for (; i <= n - 64; i += 64)
            {
                var acc = Vector256<float>.Zero;
                for (int j = i; j < i + 64; j += 8)
                {
                    var e = FastExp.Exp(Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)j), inverseV, offset));
                    acc += e;
                    uint bits = Vector256.GreaterThan(e, collectV).ExtractMostSignificantBits();
                    if (bits != 0)
                    {
                        e.CopyTo(lanes);
                        sink.Add(ref source, j, bits, lanes);
                    }
                }

                total += Vector256.Sum(acc);
            }
        }

        for (; i < n; i++)
        {
            float weight = FastExp.Exp(Vector256.Create(row[i] * inverse - maxProcessed)).ToScalar();
            total += weight;
            if (weight > collectAbove)
            {
                lanes[0] = weight;
                sink.Add(ref source, i, 1, lanes);
            }
        }

        entries = sink.Entries;
        count = sink.Count;
        return total;
    }

    /// <summary>
    /// The narrowest window (a multiple of 1/8, at most <see cref="WidestWindow"/>) whose collected float32 mass reaches
    /// <c>(p + 10^-3) · total</c>, the margin <see cref="NucleusWindow.FirstWidth"/> leaves, or 0 when none does.
    /// </summary>
    public static double NarrowestWidth(ReadOnlySpan<RankedEntry> collected, float temperature, float maxProcessed, double total, float topP)
    {
        const int Bins = (int)(WidestWindow * BinsPerUnit);
        Span<double> mass = stackalloc double[Bins];
        mass.Clear();
        float inverse = 1f / temperature;
        foreach (var entry in collected)
        {
            float below = maxProcessed - (entry.Raw * inverse);
            int bin = below <= 0 ? 0 : (int)(below * BinsPerUnit);
            if (bin < Bins)
            {
                mass[bin] += entry.Key;
            }
        }

        double needed = (topP + 1e-3) * total;
        double cumulative = 0;
        for (int bin = 0; bin < Bins; bin++)
        {
            cumulative += mass[bin];
            if (cumulative >= needed)
            {
                return (bin + 1) / (double)BinsPerUnit;
            }
        }

        return 0;
    }

    private struct Sink(RankedEntry[] entries)
    {
        public RankedEntry[] Entries = entries;

        public int Count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(ref float source, int start, ulong bits, ReadOnlySpan<float> weights)
        {
            if (Count + BitOperations.PopCount(bits) > Entries.Length)
            {
                Array.Resize(ref Entries, Math.Max(256, 2 * (Count + 16)));
            }

            while (bits != 0)
            {
                int lane = BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                Entries[Count++] = new RankedEntry(weights[lane], Unsafe.Add(ref source, start + lane), start + lane);
            }
        }
    }
}
