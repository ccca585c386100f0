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
/// Each heap, once full, admits only values above its root's raw logit. Dividing by a positive temperature never
/// reverses an order, so a raw value at or below that threshold cannot rank above the root even when the heap ranks
/// scaled values; the scan therefore compares 32 raw values at a time against the lower of the two thresholds and
/// touches the heaps only for the rare values above it.
/// </remarks>
internal static class RowScan
{
    /// <summary>Scans <paramref name="row"/>, filling the heaps; returns false when the row holds NaN or +infinity.</summary>
    /// <param name="row">The logits.</param>
    /// <param name="keep">The top-k heap (ranked by <c>raw / temperature</c> when <paramref name="scaleKeys"/>, else raw), or null.</param>
    /// <param name="candidates">The candidate heap (ranked by raw), or null.</param>
    /// <param name="temperature">The temperature the keys are divided by.</param>
    /// <param name="scaleKeys">Whether the top-k heap ranks scaled values.</param>
    /// <param name="max">The row maximum (raw).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Run(ReadOnlySpan<float> row, BoundedMinHeap? keep, BoundedMinHeap? candidates, float temperature, bool scaleKeys, out float max)
    {
        int n = row.Length;
        int fill = Math.Min(n, Math.Max(keep?.Capacity ?? 0, candidates?.Capacity ?? 0));
        float scalarMax = float.NegativeInfinity;
        bool bad = false;
        int i = 0;
        for (; i < fill; i++)
        {
            float v = row[i];
            bad |= float.IsNaN(v);
            scalarMax = v > scalarMax ? v : scalarMax;
            Offer(v, i, keep, candidates, temperature, scaleKeys);
        }

        float threshold = Threshold(keep, candidates);
        ref float start = ref MemoryMarshal.GetReference(row);
        if (Vector256.IsHardwareAccelerated && n - i >= 32)
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
                maxV = Vector256.MaxNative(maxV, Vector256.MaxNative(Vector256.MaxNative(a, b), Vector256.MaxNative(c, d)));
                nanV |= Unordered(a, b) | Unordered(c, d);
                var above = Vector256.GreaterThan(a, thresholdV) | Vector256.GreaterThan(b, thresholdV)
                    | Vector256.GreaterThan(c, thresholdV) | Vector256.GreaterThan(d, thresholdV);
                if (above != Vector256<float>.Zero)
                {
                    // Visit only the lanes above the threshold (rare once the heaps have warmed up).
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
                            Offer(v, j, keep, candidates, temperature, scaleKeys);
                            threshold = Threshold(keep, candidates);
                        }
                    }

                    thresholdV = Vector256.Create(threshold);
                }
            }

            bad |= nanV != Vector256<float>.Zero;
            float vectorMax = float.NegativeInfinity;
            for (int lane = 0; lane < Vector256<float>.Count; lane++)
            {
                vectorMax = Math.Max(vectorMax, maxV[lane]);
            }

            scalarMax = Math.Max(scalarMax, vectorMax);
        }

        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref start, i);
            bad |= float.IsNaN(v);
            scalarMax = v > scalarMax ? v : scalarMax;
            if (v > threshold)
            {
                Offer(v, i, keep, candidates, temperature, scaleKeys);
                threshold = Threshold(keep, candidates);
            }
        }

        max = scalarMax;
        return !bad && !float.IsPositiveInfinity(scalarMax);
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
    private static void Offer(float v, int id, BoundedMinHeap? keep, BoundedMinHeap? candidates, float temperature, bool scaleKeys)
    {
        keep?.Offer(new RankedEntry(scaleKeys ? v / temperature : v, v, id));
        candidates?.Offer(new RankedEntry(v, v, id));
    }
}
