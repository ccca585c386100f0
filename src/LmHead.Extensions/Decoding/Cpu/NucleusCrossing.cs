using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Top-p over thousands of entries (a flat row) without ranking them: the entries are spread over bins by their
/// float32 weight <c>e = exp(y)</c>, <c>y ≤ 0</c> the processed logit's distance to the maximum, each bin's mass is
/// summed, and only the few bins around the one where the cumulative mass crosses p (the "zone") are ranked exactly.
/// </summary>
/// <remarks>
/// A bin is <c>(bits(1) − bits(e)) >> 16</c>: the exponent and the 7 leading mantissa bits of <c>e</c>, 128 bins per
/// octave of weight (about 185 per unit of processed logit), 0 for the maximum and rising as the weight falls. The
/// float bits of a positive number grow with it, so the bins follow the ranking; entries of neighbouring bins can only
/// be ranked the wrong way round by the rounding of the weight or of <c>x · (1/T)</c> against the tensor stages'
/// <c>x / T</c>, a few ulp, far less than a bin, which is why the zone takes one more bin on each side. Every bin above
/// the zone is wholly inside the nucleus (the mass through it is below p), every bin below it wholly outside (the mass
/// before it is at least p).
/// </remarks>
internal static class NucleusCrossing
{
    /// <summary>The number of bins; the last also holds every weight below the others (and zeros).</summary>
    public const int BinCount = 2048;

    /// <summary>
    /// The lowest bin a zone may reach: weights of about <c>exp(−7.4)</c>, inside the window that
    /// <see cref="NucleusPass.NormaliserAndCollect"/> collects (<see cref="NucleusPass.CollectWidth"/>), so no entry it
    /// left out can rank above the zone's last bin.
    /// </summary>
    public const int LowestZoneBin = 1360;

    /// <summary>The crossing is looked for with this margin (relative to the normaliser) for the rounding of the bins' float64 sums.</summary>
    private const double Margin = 1e-9;

    /// <summary>The bin of a weight in [0, 1] (slightly above 1 gives bin 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Bin(float weight) => Math.Clamp((0x3F80_0000 - BitConverter.SingleToInt32Bits(weight)) >> 16, 0, BinCount - 1);

    /// <summary>The bins of 8 weights at once, as <see cref="Bin"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Bins(Vector256<float> weights) =>
        Vector256.Min(Vector256.Max(Vector256.ShiftRightArithmetic(Vector256.Create(0x3F80_0000) - weights.AsInt32(), 16), Vector256<int>.Zero), Vector256.Create(BinCount - 1));

    /// <summary>The float64 sum of the weights in each bin, into <paramref name="mass"/> (<see cref="BinCount"/> entries).</summary>
    /// <remarks>
    /// The bins of 8 weights are computed at once, then added to two interleaved histograms (even and odd lanes), so two
    /// neighbours in the same bin do not wait for each other's store; the halves are added at the end.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Histogram(ReadOnlySpan<float> weights, Span<double> mass)
    {
        Span<double> split = stackalloc double[2 * BinCount];
        split.Clear();
        ref double even = ref MemoryMarshal.GetReference(split);
        ref double odd = ref Unsafe.Add(ref even, BinCount);
        ref float source = ref MemoryMarshal.GetReference(weights);
        Span<int> lanes = stackalloc int[8];
        ref int bin = ref MemoryMarshal.GetReference(lanes);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= weights.Length - 8; i += 8)
            {
                Bins(Vector256.LoadUnsafe(ref source, (nuint)i)).StoreUnsafe(ref bin);
                Unsafe.Add(ref even, bin) += Unsafe.Add(ref source, i);
                Unsafe.Add(ref odd, Unsafe.Add(ref bin, 1)) += Unsafe.Add(ref source, i + 1);
                Unsafe.Add(ref even, Unsafe.Add(ref bin, 2)) += Unsafe.Add(ref source, i + 2);
                Unsafe.Add(ref odd, Unsafe.Add(ref bin, 3)) += Unsafe.Add(ref source, i + 3);
                Unsafe.Add(ref even, Unsafe.Add(ref bin, 4)) += Unsafe.Add(ref source, i + 4);
                Unsafe.Add(ref odd, Unsafe.Add(ref bin, 5)) += Unsafe.Add(ref source, i + 5);
                Unsafe.Add(ref even, Unsafe.Add(ref bin, 6)) += Unsafe.Add(ref source, i + 6);
                Unsafe.Add(ref odd, Unsafe.Add(ref bin, 7)) += Unsafe.Add(ref source, i + 7);
            }
        }

        for (; i < weights.Length; i++)
        {
            Unsafe.Add(ref even, Bin(weights[i])) += weights[i];
        }

        for (int b = 0; b < BinCount; b++)
        {
            mass[b] = split[b] + split[BinCount + b];
        }
    }

    /// <summary>
    /// The zone: the bins <c>[zoneLow, zoneHigh]</c> that can hold the top-p crossing of a ranking whose masses per bin
    /// are <paramref name="mass"/>, normaliser <paramref name="total"/>; <paramref name="massAbove"/> is the mass of the
    /// bins above it. A token is kept while the mass ranked before it is below <c>p · total</c>.
    /// </summary>
    /// <returns><see langword="false"/> when the zone would reach below <see cref="LowestZoneBin"/> (not enough mass collected).</returns>
    public static bool FindZone(ReadOnlySpan<double> mass, double total, float topP, out int zoneLow, out int zoneHigh, out double massAbove)
    {
        double below = (topP - Margin) * total, above = (topP + Margin) * total;
        double cumulative = 0;
        int low = -1, high = -1;
        for (int bin = 0; bin < BinCount; bin++)
        {
            // The mass before the bin's first entry is at least p: this bin and every lower one are wholly outside.
            if (cumulative >= above)
            {
                break;
            }

            high = bin;
            cumulative += mass[bin];
            if (low < 0 && cumulative > below)
            {
                // The mass through this bin may reach p: the first bin not wholly inside.
                low = bin;
            }
        }

        zoneLow = Math.Max(low - 1, 0);
        zoneHigh = high + 1;
        massAbove = 0;
        if (low < 0 || zoneHigh > LowestZoneBin)
        {
            return false;
        }

        for (int bin = 0; bin < zoneLow; bin++)
        {
            massAbove += mass[bin];
        }

        return true;
    }

    /// <summary>The positions of the weights whose bin lies in <c>[zoneLow, zoneHigh]</c>, ascending, into <paramref name="positions"/> (grown as needed).</summary>
    /// <returns>How many there are.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CollectZone(ReadOnlySpan<float> weights, int zoneLow, int zoneHigh, ref int[] positions)
    {
        int count = 0, i = 0;
        ref float source = ref MemoryMarshal.GetReference(weights);
        if (Vector256.IsHardwareAccelerated)
        {
            var low = Vector256.Create(zoneLow - 1);
            var high = Vector256.Create(zoneHigh + 1);
            for (; i <= weights.Length - 8; i += 8)
            {
                var bins = Bins(Vector256.LoadUnsafe(ref source, (nuint)i));
                for (uint lanes = (Vector256.GreaterThan(bins, low) & Vector256.LessThan(bins, high)).ExtractMostSignificantBits(); lanes != 0; lanes &= lanes - 1)
                {
                    Append(ref positions, ref count, i + System.Numerics.BitOperations.TrailingZeroCount(lanes));
                }
            }
        }

        for (; i < weights.Length; i++)
        {
            int bin = Bin(weights[i]);
            if (bin >= zoneLow && bin <= zoneHigh)
            {
                Append(ref positions, ref count, i);
            }
        }

        return count;
    }

    private static void Append(ref int[] positions, ref int count, int position)
    {
        if (count == positions.Length)
        {
            Array.Resize(ref positions, Math.Max(256, 2 * count));
        }

        positions[count++] = position;
    }

    /// <summary>
    /// Zeroes in place every weight whose bin comes after <paramref name="lastBin"/> (a lower weight; the nucleus's members keep theirs),
    /// sums the weights left per block of <see cref="CpuRowSampler.Block"/> into <paramref name="blockSums"/>, as
    /// <see cref="CpuRowSampler.Walk"/> reads them, and returns their float64 total.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double KeepThrough(Span<float> weights, int lastBin, Span<double> blockSums)
    {
        const int Block = CpuRowSampler.Block;
        int n = weights.Length;
        double total = 0;
        ref float target = ref MemoryMarshal.GetReference(weights);
        var last = Vector256.Create(lastBin + 1);
        for (int block = 0, start = 0; start < n; block++, start += Block)
        {
            double sum = 0;
            if (Vector256.IsHardwareAccelerated && start + Block <= n)
            {
                var acc = Vector256<float>.Zero;
                for (int i = start; i < start + Block; i += 8)
                {
                    var w = Vector256.LoadUnsafe(ref target, (nuint)i);
                    w &= Vector256.LessThan(Bins(w), last).AsSingle();
                    w.StoreUnsafe(ref target, (nuint)i);
                    acc += w;
                }

                sum = Vector256.Sum(acc);
            }
            else
            {
                for (int i = start; i < Math.Min(n, start + Block); i++)
                {
                    weights[i] = Bin(weights[i]) <= lastBin ? weights[i] : 0f;
                    sum += weights[i];
                }
            }

            blockSums[block] = sum;
            total += sum;
        }

        return total;
    }
}
