using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The bodies of the 64-byte half-precision row loops (<see cref="DotBFloat16Wide"/>, <see cref="DotFiniteFloat16Wide"/>):
/// one step of 64 weights into a row's four accumulators, and the end of a row (a last chunk of 32, the accumulators'
/// sum, the scalar tail). The one-row loops and <see cref="TryMultiplyHalfBatch"/> share them, so a row's sum is the
/// same sequence of operations whichever of them computes it.
/// </summary>
internal static unsafe partial class MatrixVectorKernel
{
    /// <summary>One row's 64 bfloat16 weights at <paramref name="w"/> into its four accumulators against <c>h</c> reordered (<paramref name="o0"/>-<paramref name="o3"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BFloat16Step(
        ushort* w, Vector512<float> o0, Vector512<float> o1, Vector512<float> o2, Vector512<float> o3,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
    {
        var x0 = Avx512F.LoadVector512((int*)w);
        var x1 = Avx512F.LoadVector512((int*)(w + 32));
        a0 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16Low(x0), o0, a0);
        a1 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16High(x0), o1, a1);
        a2 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16Low(x1), o2, a2);
        a3 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16High(x1), o3, a3);
    }

    /// <summary>
    /// One row's 64 finite float16 weights at <paramref name="w"/> (two chunks; bits 0 and 1 of <paramref name="f"/> flag
    /// their subnormals) into its four accumulators: against <c>h · 2^112</c> (<paramref name="o0"/>-<paramref name="o3"/>,
    /// loaded from <paramref name="ordered"/>), or a flagged chunk exactly against <paramref name="unscaled"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FiniteFloat16Step(
        ushort* w, ulong f, Vector512<float> o0, Vector512<float> o1, Vector512<float> o2, Vector512<float> o3, float* ordered, float* unscaled,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
    {
        var p0 = Avx512F.LoadVector512((int*)w);
        var p1 = Avx512F.LoadVector512((int*)(w + 32));
        if ((f & 3) == 0)
        {
            a0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(p0), o0, a0);
            a1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(p0), o1, a1);
            a2 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(p1), o2, a2);
            a3 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(p1), o3, a3);
            return;
        }

        FiniteFloat16Chunk(p0, (f & 1) != 0, ordered, unscaled, ref a0, ref a1);
        FiniteFloat16Chunk(p1, (f & 2) != 0, ordered + 32, unscaled + 32, ref a2, ref a3);
    }

    /// <summary>The end of a bfloat16 row from column <paramref name="j"/>: a last chunk of 32, the accumulators' sum, the scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float FinishBFloat16Wide(
        ushort* w, float* h, float* ordered, int columns, int j, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        for (; j <= columns - 32; j += 32)
        {
            var x0 = Avx512F.LoadVector512((int*)(w + j));
            a0 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16Low(x0), Avx512F.LoadVector512(ordered + j), a0);
            a1 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16High(x0), Avx512F.LoadVector512(ordered + j + 16), a1);
        }

        float sum = Vector512.Sum(Avx512F.Add(Avx512F.Add(a0, a1), Avx512F.Add(a2, a3)));
        for (; j < columns; j++)
        {
            sum += HalfWidening.BFloat16(w[j]) * h[j];
        }

        return sum;
    }

    /// <summary>The end of a finite float16 row from column <paramref name="j"/>: a last chunk of 32 (into a0/a1), the accumulators' sum, the scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float FinishFiniteFloat16Wide(
        ushort* w, float* h, float* ordered, float* unscaled, int columns, ulong* flags, int j,
        Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        if (j <= columns - 32)
        {
            int chunk = j / 32;
            bool flagged = flags != null && ((flags[chunk >> 6] >> (chunk & 63)) & 1) != 0;
            FiniteFloat16Chunk(Avx512F.LoadVector512((int*)(w + j)), flagged, ordered + j, unscaled + j, ref a0, ref a1);
            j += 32;
        }

        float sum = Vector512.Sum(Avx512F.Add(Avx512F.Add(a0, a1), Avx512F.Add(a2, a3)));
        for (; j < columns; j++)
        {
            sum += (float)BitConverter.UInt16BitsToHalf(w[j]) * h[j];
        }

        return sum;
    }
}
