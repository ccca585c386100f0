using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// One SIMD pass over a row of logits: the row maximum, whether the row holds NaN or +infinity, and the best entries
/// for up to two bounded heaps (the top-k survivors and the reported candidates).
/// </summary>
/// <remarks>
/// Each heap, once full, admits only values above its root's raw logit; the scan therefore compares 32 raw values at a
/// time against the lower of the two thresholds and touches the heaps only for the rare values above it.
/// </remarks>
internal static class RowScan
{
    /// <summary>Scans <paramref name="row"/>, filling the heaps; returns false when the row holds NaN or +infinity.</summary>
    /// <param name="row">The logits.</param>
    /// <param name="keep">The top-k heap (ranked by raw logit), or null.</param>
    /// <param name="candidates">The candidate heap (ranked by raw logit), or null.</param>
    /// <param name="floor">Values at or below it are never offered (−infinity: none skipped); see <see cref="FloorWasSafe"/>.</param>
    /// <param name="max">The row maximum (raw).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Run(ReadOnlySpan<float> row, BoundedMinHeap? keep, BoundedMinHeap? candidates, float floor, out float max)
    {
        int n = row.Length;
        bool floored = !float.IsNegativeInfinity(floor);
        int fill = floored ? 0 : Math.Min(n, Math.Max(keep?.Capacity ?? 0, candidates?.Capacity ?? 0));
        float scalarMax = float.NegativeInfinity;
        bool bad = false;
        int i = 0;
        for (; i < fill; i++)
        {
            float v = row[i];
            bad |= float.IsNaN(v);
            scalarMax = v > scalarMax ? v : scalarMax;
            Offer(v, i, keep, candidates);
        }

        var sink = new HeapSink(keep, candidates, floor);
        bool valid = Scan(row, i, Math.Max(floor, Threshold(keep, candidates)), ref sink, out float restMax);
        max = Math.Max(scalarMax, restMax);
        return valid && !bad && !float.IsPositiveInfinity(max);
    }

    /// <summary>Receives the values a <see cref="Scan"/> finds above its threshold, and sets the next threshold.</summary>
    internal interface ISink
    {
        /// <summary>Takes the value <paramref name="value"/> of entry <paramref name="id"/> and returns the threshold from now on.</summary>
        float Accept(float value, int id);
    }

    /// <summary>
    /// The SIMD pass over <paramref name="row"/> from <paramref name="start"/>: the maximum, a NaN check, and every value
    /// above the threshold handed to <paramref name="sink"/> in id order. Values are compared 32 at a time, through the
    /// maximum of their four vectors (<see cref="NextHits"/>), so the sink is called only for the rare lanes above the threshold.
    /// </summary>
    /// <returns><see langword="false"/> when the row holds NaN (the maximum does not see NaN; +infinity is the caller's check).</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static bool Scan<TSink>(ReadOnlySpan<float> row, int start, float threshold, ref TSink sink, out float max)
        where TSink : struct, ISink
    {
        int n = row.Length;
        int i = start;
        float scalarMax = float.NegativeInfinity;
        bool bad = false;
        ref float first = ref MemoryMarshal.GetReference(row);
        if (Vector256.IsHardwareAccelerated && n - i >= 32)
        {
            var state = new VectorState(Vector256.Create(float.NegativeInfinity), Vector256<float>.Zero);
            while (true)
            {
                // The loop over the row runs in NextHits, which makes no call, so its accumulators stay in registers
                // (here they would be live across the sink's calls, and the JIT spilled them at every iteration).
                ulong bits = NextHits(ref first, ref i, n, threshold, ref state);
                if (bits == 0)
                {
                    break;
                }

                // Visit only the lanes above the threshold (rare once the sink has warmed up).
                while (bits != 0)
                {
                    int j = i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    float v = Unsafe.Add(ref first, j);
                    if (v > threshold)
                    {
                        threshold = sink.Accept(v, j);
                    }
                }

                i += 32;
            }

            bad |= state.Unordered != Vector256<float>.Zero;
            for (int lane = 0; lane < Vector256<float>.Count; lane++)
            {
                scalarMax = Math.Max(scalarMax, state.Max[lane]);
            }
        }

        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref first, i);
            bad |= float.IsNaN(v);
            scalarMax = v > scalarMax ? v : scalarMax;
            if (v > threshold)
            {
                threshold = sink.Accept(v, i);
            }
        }

        max = scalarMax;
        return !bad;
    }

    /// <summary>The running maximum and NaN flags of <see cref="NextHits"/>, carried between its calls.</summary>
    private struct VectorState(Vector256<float> max, Vector256<float> unordered)
    {
        public Vector256<float> Max = max;
        public Vector256<float> Unordered = unordered;
    }

    /// <summary>
    /// Scans whole groups of 32 values from <paramref name="index"/> until one holds a value above
    /// <paramref name="threshold"/>: returns its 32 lane bits (<paramref name="index"/> at the group), or 0 at the end
    /// of the whole groups (<paramref name="index"/> past them). Values are compared through the maximum of their four
    /// vectors: a value above the threshold makes its lane's maximum exceed it too (a NaN may hide one, but such a row
    /// is rejected whatever the sink holds).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static ulong NextHits(ref float first, ref int index, int n, float threshold, ref VectorState state)
    {
        var thresholdV = Vector256.Create(threshold);
        var maxV = state.Max;
        var nanV = state.Unordered;
        ulong bits = 0;
        int i = index;
        for (; i <= n - 32; i += 32)
        {
            var a = Vector256.LoadUnsafe(ref first, (nuint)i);
            var b = Vector256.LoadUnsafe(ref first, (nuint)(i + 8));
            var c = Vector256.LoadUnsafe(ref first, (nuint)(i + 16));
            var d = Vector256.LoadUnsafe(ref first, (nuint)(i + 24));
            var m = Vector256.MaxNative(Vector256.MaxNative(a, b), Vector256.MaxNative(c, d));
            maxV = Vector256.MaxNative(maxV, m);
            nanV |= Unordered(a, b) | Unordered(c, d);
            if (Vector256.GreaterThan(m, thresholdV) != Vector256<float>.Zero)
            {
                bits = Vector256.GreaterThan(a, thresholdV).ExtractMostSignificantBits()
                    | ((ulong)Vector256.GreaterThan(b, thresholdV).ExtractMostSignificantBits() << 8)
                    | ((ulong)Vector256.GreaterThan(c, thresholdV).ExtractMostSignificantBits() << 16)
                    | ((ulong)Vector256.GreaterThan(d, thresholdV).ExtractMostSignificantBits() << 24);
                break;
            }
        }

        state.Max = maxV;
        state.Unordered = nanV;
        index = i;
        return bits;
    }

    /// <summary>Offers values to the top-k and candidate heaps; the threshold is the lower heap root, at least the floor.</summary>
    private struct HeapSink(BoundedMinHeap? keep, BoundedMinHeap? candidates, float floor) : ISink
    {
        public readonly float Accept(float value, int id)
        {
            Offer(value, id, keep, candidates);
            return Math.Max(floor, Threshold(keep, candidates));
        }
    }

    /// <summary>Values sampled (evenly spaced) to estimate a floor.</summary>
    private const int SampleSize = 512;

    /// <summary>
    /// A guess at a raw value with a few times <paramref name="keepCount"/> entries of the row above it, from an evenly
    /// spaced sample, or −infinity when the row is too short or the count too large for a sample to help. Any value is
    /// safe: <see cref="FloorWasSafe"/> tells afterwards whether skipping the values at or below it changed nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float EstimateFloor(ReadOnlySpan<float> row, int keepCount)
    {
        int n = row.Length;
        if (keepCount <= 0 || n < 16 * SampleSize)
        {
            return float.NegativeInfinity;
        }

        // The rank in the sample whose value about 5·keepCount entries of the row exceed (at least 4).
        int rank = Math.Max(4, (int)((5L * keepCount * SampleSize + n - 1) / n));
        if (rank > 32)
        {
            return float.NegativeInfinity;
        }

        // The best `rank` sampled values, descending (NaN never enters: the scan rejects such rows anyway).
        Span<float> best = stackalloc float[rank];
        best.Fill(float.NegativeInfinity);
        int stride = n / SampleSize;
        ref float start = ref MemoryMarshal.GetReference(row);
        float lowest = float.NegativeInfinity;
        for (int s = 0, at = stride >> 1; s < SampleSize; s++, at += stride)
        {
            float v = Unsafe.Add(ref start, at);
            if (v > lowest)
            {
                int j = rank - 1;
                while (j > 0 && v > best[j - 1])
                {
                    best[j] = best[j - 1];
                    j--;
                }

                best[j] = v;
                lowest = best[rank - 1];
            }
        }

        return lowest;
    }

    /// <summary>
    /// Whether a scan with <paramref name="floor"/> kept exactly what a scan without it would: both heaps are full, so
    /// each holds enough entries above the floor, and every skipped value (at most the floor) ranks strictly below the
    /// top-k root.
    /// </summary>
    public static bool FloorWasSafe(BoundedMinHeap? keep, BoundedMinHeap? candidates, float floor)
    {
        if (candidates is not null && !candidates.IsFull)
        {
            return false;
        }

        if (keep is null)
        {
            return true;
        }

        return keep.IsFull && keep.Root.Key > floor;
    }

    /// <summary>The index of the first entry equal to <paramref name="value"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int IndexOfFirst(ReadOnlySpan<float> row, float value)
    {
        int i = 0;
        ref float start = ref MemoryMarshal.GetReference(row);
        if (Vector256.IsHardwareAccelerated)
        {
            var target = Vector256.Create(value);
            for (; i <= row.Length - 8; i += 8)
            {
                uint bits = Vector256.Equals(Vector256.LoadUnsafe(ref start, (nuint)i), target).ExtractMostSignificantBits();
                if (bits != 0)
                {
                    return i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                }
            }
        }

        for (; i < row.Length; i++)
        {
            if (row[i] == value)
            {
                return i;
            }
        }

        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Unordered(Vector256<float> a, Vector256<float> b) =>
        Avx.IsSupported ? Avx.CompareUnordered(a, b) : ~(Vector256.Equals(a, a) & Vector256.Equals(b, b));

    private static float Threshold(BoundedMinHeap? keep, BoundedMinHeap? candidates)
    {
        // A heap that is not full yet admits everything; the fill phase guarantees both are full here unless the row was shorter.
        float threshold = float.PositiveInfinity;
        if (keep is not null)
        {
            threshold = keep.IsFull ? Math.Min(threshold, keep.Root.Raw) : float.NegativeInfinity;
        }

        if (candidates is not null)
        {
            threshold = candidates.IsFull ? Math.Min(threshold, candidates.Root.Raw) : float.NegativeInfinity;
        }

        return threshold;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Offer(float v, int id, BoundedMinHeap? keep, BoundedMinHeap? candidates)
    {
        keep?.Offer(new RankedEntry(v, v, id));
        candidates?.Offer(new RankedEntry(v, v, id));
    }
}
