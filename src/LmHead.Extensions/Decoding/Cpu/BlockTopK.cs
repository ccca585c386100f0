using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Top-k from block maxima: one 16-lane pass stores the maximum of every block of <see cref="Block"/> logits (and
/// checks for NaN), a bisection on those few maxima finds a floor that at least k of them reach, and a second look at
/// only the blocks whose maximum reaches it collects the values at or above it, in id order, into
/// <see cref="BufferedTopK"/>'s buffer, which keeps the best k exactly (ties to the lower ids).
/// </summary>
/// <remarks>
/// Why a floor reached by k block maxima is safe: each maximum is a distinct entry of the row, so at least k entries are
/// at or above it, and every entry below it ranks below the k-th. Why it is fast: the first pass has no branch that
/// depends on the data (a running threshold takes a mispredicted branch for each of the few hundred values that beat
/// it), and the k-th largest of 393 block maxima is about the row's 53rd value at V = 50257, so the second look visits
/// about k blocks and collects little more than k values.
/// </remarks>
internal static class BlockTopK
{
    /// <summary>Logits per block: eight 16-lane vectors.</summary>
    internal const int Block = 128;

    /// <summary>
    /// Whether <see cref="Run"/> serves a row of <paramref name="length"/> logits with top-<paramref name="k"/>: 16-lane
    /// vectors are accelerated and the row has at least 4k blocks (fewer would put the floor far below the k-th value).
    /// </summary>
    public static bool Serves(int length, int k) => Vector512.IsHardwareAccelerated && k > 0 && length / Block >= 4L * k;

    /// <summary>Collects the best <paramref name="k"/> entries of <paramref name="row"/>, in id order (the caller checked <see cref="Serves"/>).</summary>
    /// <param name="row">The logits.</param>
    /// <param name="k">How many to keep.</param>
    /// <param name="maxima">Scratch for the block maxima (grown when too short).</param>
    /// <param name="buffer">Scratch of at least 2k entries; the survivors are its first <paramref name="count"/> entries, in id order.</param>
    /// <param name="keys">Scratch of at least <paramref name="buffer"/>'s length.</param>
    /// <param name="count">k, or 0 when the floor would be −infinity (fewer than k blocks hold a value above −infinity): the caller then takes another path.</param>
    /// <param name="max">The row maximum (raw).</param>
    /// <returns><see langword="false"/> when the row holds NaN or +infinity.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Run(ReadOnlySpan<float> row, int k, ref float[] maxima, RankedEntry[] buffer, float[] keys, out int count, out float max)
    {
        count = 0;
        int blocks = (row.Length + Block - 1) / Block;
        // Rounded up to whole 16-lane vectors; the padding (-infinity) never reaches a floor.
        int padded = (blocks + 15) & ~15;
        if (maxima.Length < padded)
        {
            maxima = new float[padded];
        }

        maxima.AsSpan(blocks, padded - blocks).Fill(float.NegativeInfinity);
        if (!BlockMaxima(row, maxima, out max) || float.IsPositiveInfinity(max))
        {
            return false;
        }

        float floor = Floor(maxima.AsSpan(0, blocks), k, max);
        if (float.IsNegativeInfinity(floor))
        {
            return true;
        }

        // v > the float just below the floor is v >= floor; the sink raises the threshold when its buffer fills.
        float threshold = MathF.BitDecrement(floor);
        var sink = new BufferedTopK.BufferSink(buffer, keys, k, threshold);
        ref float first = ref MemoryMarshal.GetReference(row);
        ref float firstMaximum = ref MemoryMarshal.GetArrayDataReference(maxima);
        int full = row.Length / Block;
        for (int group = 0; group < padded; group += 16)
        {
            // The blocks of this group of 16 whose maximum reaches the threshold, lowest first (a block lower in the
            // group may raise the threshold; the values are compared with the current one anyway).
            ulong reaching = Vector512.GreaterThan(Vector512.LoadUnsafe(ref firstMaximum, (nuint)group), Vector512.Create(threshold)).ExtractMostSignificantBits();
            while (reaching != 0)
            {
                int b = group + BitOperations.TrailingZeroCount(reaching);
                reaching &= reaching - 1;
                threshold = b < full
                    ? CollectBlock(ref first, b * Block, threshold, ref sink)
                    : CollectTail(ref first, b * Block, row.Length, threshold, ref sink);
            }
        }

        int filled = sink.Filled;
        count = filled > k ? BufferedTopK.Compact(buffer, keys, filled, k, out _) : filled;
        return true;
    }

    /// <summary>The maximum of every block into <paramref name="maxima"/> and of the row into <paramref name="max"/>; <see langword="false"/> when the row holds NaN.</summary>
    /// <exception cref="ArgumentException"><paramref name="maxima"/> holds fewer entries than the row has blocks.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static bool BlockMaxima(ReadOnlySpan<float> row, Span<float> maxima, out float max)
    {
        int n = row.Length;
        int full = n / Block;
        if (maxima.Length < (n + Block - 1) / Block)
        {
            // The loop below writes the maxima without bounds checks.
            throw new ArgumentException($"maxima holds {maxima.Length} entries but the row has {(n + Block - 1) / Block} blocks.", nameof(maxima));
        }

        ref float first = ref MemoryMarshal.GetReference(row);
        ref float target = ref MemoryMarshal.GetReference(maxima);
        ulong nanLanes = 0;
        var rowMax = Vector512.Create(float.NegativeInfinity);
        for (int b = 0; b < full; b++)
        {
            nuint at = (nuint)b * Block;
            var v0 = Vector512.LoadUnsafe(ref first, at);
            var v1 = Vector512.LoadUnsafe(ref first, at + 16);
            var v2 = Vector512.LoadUnsafe(ref first, at + 32);
            var v3 = Vector512.LoadUnsafe(ref first, at + 48);
            var v4 = Vector512.LoadUnsafe(ref first, at + 64);
            var v5 = Vector512.LoadUnsafe(ref first, at + 80);
            var v6 = Vector512.LoadUnsafe(ref first, at + 96);
            var v7 = Vector512.LoadUnsafe(ref first, at + 112);
            // Each compare's lane bits go straight from a mask register to an integer (no mask widened to a vector).
            nanLanes |= (Unordered(v0, v1).ExtractMostSignificantBits() | Unordered(v2, v3).ExtractMostSignificantBits())
                | (Unordered(v4, v5).ExtractMostSignificantBits() | Unordered(v6, v7).ExtractMostSignificantBits());
            var m = Vector512.MaxNative(
                Vector512.MaxNative(Vector512.MaxNative(v0, v1), Vector512.MaxNative(v2, v3)),
                Vector512.MaxNative(Vector512.MaxNative(v4, v5), Vector512.MaxNative(v6, v7)));
            rowMax = Vector512.MaxNative(rowMax, m);
            var half = Vector256.MaxNative(m.GetLower(), m.GetUpper());
            var quarter = Vector128.MaxNative(half.GetLower(), half.GetUpper());
            quarter = Vector128.MaxNative(quarter, Vector128.Shuffle(quarter, Vector128.Create(2, 3, 0, 1)));
            quarter = Vector128.MaxNative(quarter, Vector128.Shuffle(quarter, Vector128.Create(1, 0, 3, 2)));
            Unsafe.Add(ref target, b) = quarter.ToScalar();
        }

        bool bad = nanLanes != 0;
        float scalarMax = float.NegativeInfinity;
        for (int lane = 0; lane < Vector512<float>.Count; lane++)
        {
            scalarMax = Math.Max(scalarMax, rowMax[lane]);
        }

        if (full * Block < n)
        {
            float tailMax = float.NegativeInfinity;
            for (int i = full * Block; i < n; i++)
            {
                float v = Unsafe.Add(ref first, i);
                bad |= float.IsNaN(v);
                tailMax = v > tailMax ? v : tailMax;
            }

            maxima[full] = tailMax;
            scalarMax = Math.Max(scalarMax, tailMax);
        }

        max = scalarMax;
        return !bad;
    }

    /// <summary>
    /// A value that at least <paramref name="k"/> of <paramref name="maxima"/> reach, as high as a short bisection finds
    /// (it stops once at most about k + k/8 reach it): −infinity when fewer than k maxima are above −infinity.
    /// </summary>
    internal static float Floor(ReadOnlySpan<float> maxima, int k, float max)
    {
        // Bisect on the order-preserving integer image of the floats: Reaching(low) >= k > Reaching(high) throughout.
        float least = Least(maxima);

        long low = OrderKey(least), high = OrderKey(max) + 1L;
        int enough = k + Math.Max(4, k / 8);
        while (high - low > 1)
        {
            long middle = low + ((high - low) >> 1);
            int reaching = Reaching(maxima, FromOrderKey(middle));
            if (reaching >= k)
            {
                low = middle;
                if (reaching <= enough)
                {
                    break;
                }
            }
            else
            {
                high = middle;
            }
        }

        return FromOrderKey(low);
    }

    /// <summary>The least of <paramref name="values"/> (none NaN).</summary>
    private static float Least(ReadOnlySpan<float> values)
    {
        int i = 0;
        ref float first = ref MemoryMarshal.GetReference(values);
        var least = Vector512.Create(float.PositiveInfinity);
        for (; i <= values.Length - 16; i += 16)
        {
            least = Vector512.MinNative(least, Vector512.LoadUnsafe(ref first, (nuint)i));
        }

        float result = float.PositiveInfinity;
        for (int lane = 0; lane < Vector512<float>.Count; lane++)
        {
            result = least[lane] < result ? least[lane] : result;
        }

        for (; i < values.Length; i++)
        {
            result = values[i] < result ? values[i] : result;
        }

        return result;
    }

    /// <summary>How many of <paramref name="maxima"/> are at least <paramref name="value"/>.</summary>
    internal static int Reaching(ReadOnlySpan<float> maxima, float value)
    {
        int count = 0, i = 0;
        ref float first = ref MemoryMarshal.GetReference(maxima);
        var target = Vector512.Create(value);
        for (; i <= maxima.Length - 16; i += 16)
        {
            count += BitOperations.PopCount(Vector512.GreaterThanOrEqual(Vector512.LoadUnsafe(ref first, (nuint)i), target).ExtractMostSignificantBits());
        }

        for (; i < maxima.Length; i++)
        {
            count += maxima[i] >= value ? 1 : 0;
        }

        return count;
    }

    /// <summary>Hands every value of the whole block at <paramref name="start"/> above <paramref name="threshold"/> to <paramref name="sink"/>, in id order; returns the threshold after them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float CollectBlock(ref float first, int start, float threshold, ref BufferedTopK.BufferSink sink)
    {
        // The block's 128 compare bits in two words, visited lowest first without a branch on which word (a block
        // usually holds one value at or above the floor, so the loop runs once and predicts well).
        var t = Vector512.Create(threshold);
        nuint at = (nuint)start;
        ulong low = Vector512.GreaterThan(Vector512.LoadUnsafe(ref first, at), t).ExtractMostSignificantBits()
            | (Vector512.GreaterThan(Vector512.LoadUnsafe(ref first, at + 16), t).ExtractMostSignificantBits() << 16)
            | (Vector512.GreaterThan(Vector512.LoadUnsafe(ref first, at + 32), t).ExtractMostSignificantBits() << 32)
            | (Vector512.GreaterThan(Vector512.LoadUnsafe(ref first, at + 48), t).ExtractMostSignificantBits() << 48);
        ulong high = Vector512.GreaterThan(Vector512.LoadUnsafe(ref first, at + 64), t).ExtractMostSignificantBits()
            | (Vector512.GreaterThan(Vector512.LoadUnsafe(ref first, at + 80), t).ExtractMostSignificantBits() << 16)
            | (Vector512.GreaterThan(Vector512.LoadUnsafe(ref first, at + 96), t).ExtractMostSignificantBits() << 32)
            | (Vector512.GreaterThan(Vector512.LoadUnsafe(ref first, at + 112), t).ExtractMostSignificantBits() << 48);
        while ((low | high) != 0)
        {
            bool inLow = low != 0;
            int offset = inLow ? BitOperations.TrailingZeroCount(low) : 64 + BitOperations.TrailingZeroCount(high);
            low = inLow ? low & (low - 1) : low;
            high = inLow ? high : high & (high - 1);
            int j = start + offset;
            float v = Unsafe.Add(ref first, j);
            if (v > threshold)
            {
                threshold = sink.Accept(v, j);
            }
        }

        return threshold;
    }

    /// <summary>Hands every value of <c>[start, end)</c> above <paramref name="threshold"/> to <paramref name="sink"/>, in id order; returns the threshold after them.</summary>
    private static float CollectTail(ref float first, int start, int end, float threshold, ref BufferedTopK.BufferSink sink)
    {
        for (int i = start; i < end; i++)
        {
            float v = Unsafe.Add(ref first, i);
            if (v > threshold)
            {
                threshold = sink.Accept(v, i);
            }
        }

        return threshold;
    }

    /// <summary>An integer image of a non-NaN float that orders as the floats do (−0 just below +0).</summary>
    internal static long OrderKey(float value)
    {
        int bits = BitConverter.SingleToInt32Bits(value);
        return bits ^ ((bits >> 31) & 0x7FFFFFFF);
    }

    /// <summary>The float whose <see cref="OrderKey"/> is <paramref name="key"/>.</summary>
    internal static float FromOrderKey(long key)
    {
        int bits = (int)key;
        return BitConverter.Int32BitsToSingle(bits ^ ((bits >> 31) & 0x7FFFFFFF));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Unordered(Vector512<float> a, Vector512<float> b) =>
        Avx512F.IsSupported ? Avx512F.CompareUnordered(a, b) : ~(Vector512.Equals(a, a) & Vector512.Equals(b, b));
}
