using System.Runtime.CompilerServices;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Top-k by appending instead of a heap: the SIMD scan appends every value above a threshold to a buffer (in id order);
/// when the buffer is full, it keeps the best k (key descending, lower id first on ties, order preserved) and raises the
/// threshold to the raw value of the worst one kept. The survivors come out in id order, ready for the inverse-CDF
/// walk, with about a third of the work of sifting each value through a heap.
/// </summary>
/// <remarks>
/// A value at or below the threshold cannot enter the top k: it is at most the worst kept value and its id is higher
/// than every id kept so far, so it ranks below.
/// Values equal to <c>-infinity</c> are never appended; a row with fewer than k values above the floor reports fewer
/// survivors and the caller falls back to the heap scan, which handles it exactly.
/// </remarks>
internal static class BufferedTopK
{
    /// <summary>Scans <paramref name="row"/> for its best <paramref name="k"/> entries above <paramref name="floor"/>.</summary>
    /// <param name="row">The logits.</param>
    /// <param name="k">How many to keep.</param>
    /// <param name="floor">Values at or below it are never appended (−infinity: none skipped).</param>
    /// <param name="buffer">Scratch of at least 2k entries; the survivors are its first <paramref name="count"/> entries, in id order.</param>
    /// <param name="keys">Scratch of at least <paramref name="buffer"/>'s length.</param>
    /// <param name="count">How many survivors: k, or fewer when fewer values were above the floor.</param>
    /// <param name="max">The row maximum (raw).</param>
    /// <returns><see langword="false"/> when the row holds NaN or +infinity.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Run(
        ReadOnlySpan<float> row, int k, float floor, RankedEntry[] buffer, float[] keys, out int count, out float max)
    {
        var sink = new BufferSink(buffer, keys, k, floor);
        bool valid = RowScan.Scan(row, 0, floor, ref sink, out max);
        int filled = sink.Filled;
        count = filled > k ? Compact(buffer, keys, filled, k, out _) : filled;
        return valid && !float.IsPositiveInfinity(max);
    }

    /// <summary>Appends values to the buffer, compacting it to the best k when it is full.</summary>
    internal struct BufferSink(RankedEntry[] buffer, float[] keys, int k, float floor) : RowScan.ISink
    {
        private float _threshold = floor;

        public int Filled { get; private set; }

        public float Accept(float value, int id)
        {
            buffer[Filled++] = new RankedEntry(value, value, id);
            if (Filled == buffer.Length)
            {
                Filled = Compact(buffer, keys, Filled, k, out _threshold);
            }

            return _threshold;
        }
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

        // At least one entry with the k-th key is kept (needed >= 1), so threshold is the raw value of one of them.
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
}
