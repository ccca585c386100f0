using System.Numerics;
using System.Runtime.InteropServices;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Infinities and NaNs among raw float bits (float32 as <see cref="uint"/>, float16 and bfloat16 as <see cref="ushort"/>):
/// a value is one exactly when every bit of its exponent field is set. Used by the weight loaders on whole tensors and by
/// the attention on each chunk of a float16 cache before it takes the widening shortcut.
/// </summary>
internal static class NonFiniteBits
{
    /// <summary>
    /// Whether any value of <paramref name="bits"/> has every bit of <paramref name="exponent"/> set. A running maximum of
    /// the values without their sign bit (a value is NaN or infinite exactly when that is at least the exponent mask), four
    /// vectors at a time and without a branch per vector, so the scan keeps up with a read from memory.
    /// </summary>
    public static bool Any<T>(ReadOnlySpan<T> bits, T exponent)
        where T : unmanaged, IBinaryInteger<T>
    {
        var magnitude = new Vector<T>(T.AllBitsSet >>> 1);
        var vectors = MemoryMarshal.Cast<T, Vector<T>>(bits);
        Vector<T> max0 = Vector<T>.Zero, max1 = Vector<T>.Zero, max2 = Vector<T>.Zero, max3 = Vector<T>.Zero;
        int i = 0;
        for (; i + 4 <= vectors.Length; i += 4)
        {
            max0 = Vector.Max(max0, vectors[i] & magnitude);
            max1 = Vector.Max(max1, vectors[i + 1] & magnitude);
            max2 = Vector.Max(max2, vectors[i + 2] & magnitude);
            max3 = Vector.Max(max3, vectors[i + 3] & magnitude);
        }

        for (; i < vectors.Length; i++)
        {
            max0 = Vector.Max(max0, vectors[i] & magnitude);
        }

        bool found = Vector.GreaterThanOrEqualAny(Vector.Max(Vector.Max(max0, max1), Vector.Max(max2, max3)), new Vector<T>(exponent));
        for (int j = vectors.Length * Vector<T>.Count; j < bits.Length && !found; j++)
        {
            found = (bits[j] & exponent) == exponent;
        }

        return found;
    }

    /// <summary>How many values of <paramref name="bits"/> have every bit of <paramref name="exponent"/> set (counted only when <see cref="Any{T}"/> finds one).</summary>
    public static long Count<T>(ReadOnlySpan<T> bits, T exponent)
        where T : unmanaged, IBinaryInteger<T>
    {
        if (!Any(bits, exponent))
        {
            return 0;
        }

        long bad = 0;
        foreach (var value in bits)
        {
            if ((value & exponent) == exponent)
            {
                bad++;
            }
        }

        return bad;
    }
}
