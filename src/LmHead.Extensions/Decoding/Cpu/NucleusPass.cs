using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Top-p without a top-k in one vectorised pass after the maximum: the softmax normaliser of the whole row and, in the
/// same pass, every entry whose processed logit is within <see cref="CollectWidth"/> of the maximum (in id order, with
/// its float32 weight), so the window that holds p of the mass is chosen from a histogram of those entries instead of
/// measuring fixed widths over the row and scanning it again to collect them.
/// </summary>
/// <remarks>
/// The weights are <c>exp(x · (1/T) − maxProcessed)</c>, 16 lanes at a time by <see cref="FastExp.ExpScaled"/> with
/// AVX-512 (8 by <see cref="FastExp"/> with AVX2, the weights of <see cref="NucleusWindow.Normaliser"/>). A token ranked before the top-p crossing has a
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
    /// entries whose processed logit is within <see cref="CollectWidth"/> of the maximum, in id order: their ids in
    /// <paramref name="ids"/> and their float32 weights in <paramref name="weights"/> (both grown to the row's length + 16
    /// as needed). Only for rows where <see cref="CpuRowSampler.UsesInverse"/> holds.
    /// </summary>
    /// <remarks>
    /// With AVX-512 the entries are appended by compressing the vector and storing all 16 lanes whatever the mask (no branch per vector: on a peaked row
    /// about a third of the vectors hold an entry, at random, so a branch would mispredict often) and the weights come
    /// from <see cref="FastExp.ExpScaled"/>.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe double NormaliserAndCollect(ReadOnlySpan<float> row, float temperature, float maxProcessed, ref int[] ids, ref float[] weights, out int count)
    {
        int n = row.Length;
        if (ids.Length < n + 16 || weights.Length < n + 16)
        {
            ids = new int[n + 16];
            weights = new float[n + 16];
        }

        float inverse = 1f / temperature;
        ref float source = ref MemoryMarshal.GetReference(row);
        double total = 0;
        int i = 0, collected = 0;
        fixed (int* idTarget = ids)
        fixed (float* weightTarget = weights)
        {
            if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
            {
                var inverseV = Vector512.Create(inverse);
                var offset = Vector512.Create(-maxProcessed);
                var nearV = Vector512.Create(-CollectWidth);
                var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                // Four vectors per step written out: the loop over them, not unrolled by the JIT, cost a fifth more.
                for (; i <= n - 64; i += 64)
                {
                    var y0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)i), inverseV, offset);
                    var y1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)(i + 16)), inverseV, offset);
                    var y2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)(i + 32)), inverseV, offset);
                    var y3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref source, (nuint)(i + 48)), inverseV, offset);
                    var e0 = FastExp.ExpScaled(y0);
                    var e1 = FastExp.ExpScaled(y1);
                    var e2 = FastExp.ExpScaled(y2);
                    var e3 = FastExp.ExpScaled(y3);
                    total += Vector512.Sum((e0 + e1) + (e2 + e3));
                    collected = Append(idTarget, weightTarget, collected, y0, e0, nearV, lanes + Vector512.Create(i));
                    collected = Append(idTarget, weightTarget, collected, y1, e1, nearV, lanes + Vector512.Create(i + 16));
                    collected = Append(idTarget, weightTarget, collected, y2, e2, nearV, lanes + Vector512.Create(i + 32));
                    collected = Append(idTarget, weightTarget, collected, y3, e3, nearV, lanes + Vector512.Create(i + 48));
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var inverseV = Vector256.Create(inverse);
                var offset = Vector256.Create(-maxProcessed);
                var nearV = Vector256.Create(-CollectWidth);
                for (; i <= n - 64; i += 64)
                {
                    var acc = Vector256<float>.Zero;
                    for (int j = i; j < i + 64; j += 8)
                    {
                        var y = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)j), inverseV, offset);
                        var e = FastExp.Exp(y);
                        acc += e;
                        for (uint bits = Vector256.GreaterThan(y, nearV).ExtractMostSignificantBits(); bits != 0; bits &= bits - 1)
                        {
                            int lane = BitOperations.TrailingZeroCount(bits);
                            idTarget[collected] = j + lane;
                            weightTarget[collected++] = e.GetElement(lane);
                        }
                    }

                    total += Vector256.Sum(acc);
                }
            }
        }

        for (; i < n; i++)
        {
            float y = (row[i] * inverse) - maxProcessed;
            float weight = FastExp.Exp(Vector256.Create(y)).ToScalar();
            total += weight;
            if (y > -CollectWidth)
            {
                ids[collected] = i;
                weights[collected++] = weight;
            }
        }

        count = collected;
        return total;
    }

    /// <summary>
    /// Appends the lanes of <paramref name="y"/> above <paramref name="near"/> (their ids and weights) at
    /// <paramref name="count"/>: the register form of <c>vcompressps</c> and a full store whatever the mask (no branch per
    /// vector: on a peaked row about a third of the vectors hold an entry, at random, so a branch would mispredict often;
    /// the memory form of the instruction is slow on several CPUs). Returns the new count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe int Append(int* ids, float* weights, int count, Vector512<float> y, Vector512<float> e, Vector512<float> near, Vector512<int> at)
    {
        var keep = Vector512.GreaterThan(y, near);
        Avx512F.Compress(Vector512<int>.Zero, keep.AsInt32(), at).Store(ids + count);
        Avx512F.Compress(Vector512<float>.Zero, keep, e).Store(weights + count);
        return count + BitOperations.PopCount(keep.ExtractMostSignificantBits());
    }

    /// <summary>
    /// The narrowest window (a multiple of 1/8, at most <see cref="WidestWindow"/>) whose collected float32 mass reaches
    /// <c>(p + 10^-3) · total</c>, the margin <see cref="NucleusWindow.FirstWidth"/> leaves, or 0 when none does.
    /// </summary>
    public static double NarrowestWidth(ReadOnlySpan<float> row, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, float temperature, float maxProcessed, double total, float topP)
    {
        const int Bins = (int)(WidestWindow * BinsPerUnit);
        float inverse = 1f / temperature;
        double needed = (topP + 1e-3) * total;
        if (ids.Length > LevelsAbove && Vector512.IsHardwareAccelerated && Avx2.IsSupported)
        {
            return NarrowestWidthByLevels(row, ids, weights, inverse, maxProcessed, needed);
        }

        Span<double> mass = stackalloc double[Bins];
        mass.Clear();
        for (int c = 0; c < ids.Length; c++)
        {
            float below = maxProcessed - (row[ids[c]] * inverse);
            int bin = below <= 0 ? 0 : (int)(below * BinsPerUnit);
            if (bin < Bins)
            {
                mass[bin] += weights[c];
            }
        }

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

    /// <summary>Above this many collected entries <see cref="NarrowestWidth"/> measures levels instead of filling a histogram entry by entry.</summary>
    internal const int LevelsAbove = 2048;

    /// <summary>
    /// <see cref="NarrowestWidth"/> for many entries (a flat row collects most of it): the bins of the histogram are
    /// <c>⌊max(below, 0) · 8⌋</c>, so the mass of the bins up to <c>b</c> is the mass of the entries with
    /// <c>max(below, 0) · 8 &lt; b + 1</c>; one vectorised pass measures that at every whole unit (8 levels) and keeps
    /// each entry's scaled distance, a second the 7 levels inside the unit where the mass first reaches p. Weights are
    /// summed in float32 lanes, flushed to float64 every 1,024 entries.
    /// </summary>
    private static unsafe double NarrowestWidthByLevels(ReadOnlySpan<float> row, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, float inverse, float maxProcessed, double needed)
    {
        const int Bins = (int)(WidestWindow * BinsPerUnit);
        int count = ids.Length - (ids.Length % 16);
        float[] rented = ArrayPool<float>.Shared.Rent(count);
        try
        {
            Span<float> coarse = stackalloc float[8];
            for (int level = 0; level < 8; level++)
            {
                coarse[level] = Math.Min(BinsPerUnit * (level + 1), Bins);
            }

            Span<double> mass = stackalloc double[8];
            fixed (float* source = row)
            fixed (int* idSource = ids)
            fixed (float* weightSource = weights)
            fixed (float* scaled = rented)
            {
                var inverseV = Vector512.Create(inverse);
                var maxV = Vector512.Create(maxProcessed);
                for (int c = 0; c < count; c += 16)
                {
                    var at = Vector512.Load(idSource + c);
                    var raw = Vector512.Create(Avx2.GatherVector256(source, at.GetLower(), 4), Avx2.GatherVector256(source, at.GetUpper(), 4));
                    // The scalar loop's operations (a product, then a difference; not fused).
                    (Vector512.Max(maxV - (raw * inverseV), Vector512<float>.Zero) * Vector512.Create((float)BinsPerUnit)).Store(scaled + c);
                }

                Levels(scaled, weightSource, count, coarse, mass);
                AddTail(row, ids, weights, count, inverse, maxProcessed, coarse, mass);
                int unit = FirstReaching(mass, needed);
                if (unit < 0)
                {
                    return 0;
                }

                // Inside the unit: the levels of its first seven bins (its last is the coarse level that reached p).
                Span<float> fine = stackalloc float[8];
                for (int level = 0; level < 8; level++)
                {
                    fine[level] = Math.Min((BinsPerUnit * unit) + level + 1, coarse[unit]);
                }

                Levels(scaled, weightSource, count, fine, mass);
                AddTail(row, ids, weights, count, inverse, maxProcessed, fine, mass);
                return fine[FirstReaching(mass, needed) is >= 0 and var at2 ? at2 : 7] / BinsPerUnit;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static int FirstReaching(ReadOnlySpan<double> mass, double needed)
    {
        for (int level = 0; level < mass.Length; level++)
        {
            if (mass[level] >= needed)
            {
                return level;
            }
        }

        return -1;
    }

    /// <summary>The weight of the entries with a scaled distance below each of 8 levels, into <paramref name="mass"/>.</summary>
    private static unsafe void Levels(float* scaled, float* weights, int count, ReadOnlySpan<float> levels, Span<double> mass)
    {
        mass.Clear();
        Span<Vector512<float>> limit = stackalloc Vector512<float>[8];
        Span<Vector512<float>> sums = stackalloc Vector512<float>[8];
        for (int level = 0; level < 8; level++)
        {
            limit[level] = Vector512.Create(levels[level]);
        }

        for (int block = 0; block < count; block += 1024)
        {
            sums.Clear();
            int end = Math.Min(count, block + 1024);
            for (int c = block; c < end; c += 16)
            {
                var distance = Vector512.Load(scaled + c);
                var weight = Vector512.Load(weights + c);
                for (int level = 0; level < 8; level++)
                {
                    sums[level] += weight & Vector512.LessThan(distance, limit[level]);
                }
            }

            for (int level = 0; level < 8; level++)
            {
                mass[level] += Vector512.Sum(sums[level]);
            }
        }
    }

    /// <summary>Adds the entries past the last whole vector to the level masses, as <see cref="Levels"/> counts them.</summary>
    private static void AddTail(ReadOnlySpan<float> row, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int from, float inverse, float maxProcessed, ReadOnlySpan<float> levels, Span<double> mass)
    {
        for (int c = from; c < ids.Length; c++)
        {
            float distance = Math.Max(maxProcessed - (row[ids[c]] * inverse), 0f) * BinsPerUnit;
            for (int level = 0; level < 8; level++)
            {
                mass[level] += distance < levels[level] ? weights[c] : 0;
            }
        }
    }
}
