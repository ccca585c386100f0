using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Top-k by appending instead of a heap: the SIMD scan appends every value above a threshold to a buffer (in id order);
/// when the buffer is full, it keeps the best k (key descending, lower id first on ties, order preserved) and raises the
/// threshold to the raw value of the worst one kept. The survivors come out in id order, ready for the inverse-CDF
/// walk, with about a third of the work of sifting each value through a heap.
/// </summary>
/// <remarks>
/// A value at or below the threshold cannot enter the top k: its key is at most the worst kept key (dividing by a
/// positive temperature never reverses an order) and its id is higher than every id kept so far, so it ranks below.
/// Values equal to <c>-infinity</c> are never appended; a row with fewer than k values above the floor reports fewer
/// survivors and the caller falls back to the heap scan, which handles it exactly.
/// </remarks>
internal static class BufferedTopK
{
    /// <summary>Scans <paramref name="row"/> for its best <paramref name="k"/> entries above <paramref name="floor"/>.</summary>
    /// <param name="row">The logits.</param>
    /// <param name="k">How many to keep.</param>
    /// <param name="temperature">The temperature keys are divided by when <paramref name="scaleKeys"/>.</param>
    /// <param name="scaleKeys">Whether entries rank by <c>raw / temperature</c> (else by raw).</param>
    /// <param name="floor">Values at or below it are never appended (−infinity: none skipped).</param>
    /// <param name="buffer">Scratch of at least 2k entries; the survivors are its first <paramref name="count"/> entries, in id order.</param>
    /// <param name="keys">Scratch of at least <paramref name="buffer"/>'s length.</param>
    /// <param name="count">How many survivors: k, or fewer when fewer values were above the floor.</param>
    /// <param name="max">The row maximum (raw).</param>
    /// <returns><see langword="false"/> when the row holds NaN or +infinity.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Run(
        ReadOnlySpan<float> row, int k, float temperature, bool scaleKeys, float floor, RankedEntry[] buffer, float[] keys, out int count, out float max)
    {
        int n = row.Length;
        int capacity = buffer.Length;
        int filled = 0;
        float threshold = floor;
        float scalarMax = float.NegativeInfinity;
        bool bad = false;
        int i = 0;
        ref float start = ref MemoryMarshal.GetReference(row);
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            var thresholdV = Vector256.Create(threshold);
            var maxV = Vector256.Create(float.NegativeInfinity);
            var nanV = Vector256<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var a = Vector256.LoadUnsafe(ref start, (nuint)i);
                var b = Vector256.LoadUnsafe(ref start, (nuint)(i + 8));
                var c = Vector256.LoadUnsafe(ref start, (nuint)(i + 16));
                var d = Vector256.LoadUnsafe(ref start, (nuint)(i + 24));
                var m = Vector256.MaxNative(Vector256.MaxNative(a, b), Vector256.MaxNative(c, d));
                maxV = Vector256.MaxNative(maxV, m);
                nanV |= Unordered(a, b) | Unordered(c, d);
                if (Vector256.GreaterThan(m, thresholdV) == Vector256<float>.Zero)
                {
                    continue;
                }

                ulong bits = Vector256.GreaterThan(a, thresholdV).ExtractMostSignificantBits()
                    | ((ulong)Vector256.GreaterThan(b, thresholdV).ExtractMostSignificantBits() << 8)
                    | ((ulong)Vector256.GreaterThan(c, thresholdV).ExtractMostSignificantBits() << 16)
                    | ((ulong)Vector256.GreaterThan(d, thresholdV).ExtractMostSignificantBits() << 24);
                while (bits != 0)
                {
                    int j = i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    float v = Unsafe.Add(ref start, j);
                    if (v > threshold)
                    {
                        buffer[filled++] = new RankedEntry(scaleKeys ? v / temperature : v, v, j);
                        if (filled == capacity)
                        {
                            filled = Compact(buffer, keys, filled, k, out threshold);
                        }
                    }
                }

                thresholdV = Vector256.Create(threshold);
            }

            bad |= nanV != Vector256<float>.Zero;
            float vectorMax = float.NegativeInfinity;
            for (int lane = 0; lane < Vector256<float>.Count; lane++)
            {
                vectorMax = Math.Max(vectorMax, maxV[lane]);
            }

            scalarMax = vectorMax;
        }

        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref start, i);
            bad |= float.IsNaN(v);
            scalarMax = v > scalarMax ? v : scalarMax;
            if (v > threshold)
            {
                buffer[filled++] = new RankedEntry(scaleKeys ? v / temperature : v, v, i);
                if (filled == capacity)
                {
                    filled = Compact(buffer, keys, filled, k, out threshold);
                }
            }
        }

        count = filled > k ? Compact(buffer, keys, filled, k, out _) : filled;
        max = scalarMax;
        return !bad && !float.IsPositiveInfinity(scalarMax);
    }

    /// <summary>
    /// Keeps the best <paramref name="k"/> of the first <paramref name="filled"/> entries (key descending; among equal
    /// keys the earlier, i.e. lower id), in their order, and returns k; <paramref name="threshold"/> is the raw value of
    /// the worst entry kept.
    /// </summary>
    internal static int Compact(RankedEntry[] buffer, float[] keys, int filled, int k, out float threshold)
    {
        for (int e = 0; e < filled; e++)
        {
            keys[e] = buffer[e].Key;
        }

        float kth = SelectDescending(keys.AsSpan(0, filled), k - 1);
        int needed = k;
        for (int e = 0; e < filled; e++)
        {
            needed -= buffer[e].Key > kth ? 1 : 0;
        }

        int kept = 0;
        threshold = float.PositiveInfinity;
        for (int e = 0; e < filled; e++)
        {
            var entry = buffer[e];
            if (entry.Key > kth || (entry.Key == kth && needed-- > 0))
            {
                buffer[kept++] = entry;
                threshold = entry.Key == kth ? entry.Raw : threshold;
            }
        }

        // The worst entry kept has the k-th key; its raw value (any entry with that key has the same ranking bound).
        if (float.IsPositiveInfinity(threshold))
        {
            threshold = float.NegativeInfinity;
        }

        return kept;
    }

    /// <summary>The value at position <paramref name="index"/> of <paramref name="values"/> sorted descending (quickselect; reorders the span).</summary>
    internal static float SelectDescending(Span<float> values, int index)
    {
        int low = 0, high = values.Length - 1;
        while (low < high)
        {
            // Median of three as the pivot, then a Hoare partition: larger values to the left.
            int middle = low + ((high - low) >> 1);
            float pivot = Median(values[low], values[middle], values[high]);
            int left = low, right = high;
            while (left <= right)
            {
                while (values[left] > pivot)
                {
                    left++;
                }

                while (values[right] < pivot)
                {
                    right--;
                }

                if (left <= right)
                {
                    (values[left], values[right]) = (values[right], values[left]);
                    left++;
                    right--;
                }
            }

            if (index <= right)
            {
                high = right;
            }
            else if (index >= left)
            {
                low = left;
            }
            else
            {
                return values[index];
            }
        }

        return values[low];
    }

    private static float Median(float a, float b, float c) =>
        a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Unordered(Vector256<float> a, Vector256<float> b) =>
        Avx.IsSupported ? Avx.CompareUnordered(a, b) : ~(Vector256.Equals(a, a) & Vector256.Equals(b, b));
}
