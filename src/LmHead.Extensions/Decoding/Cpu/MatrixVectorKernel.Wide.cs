using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The 64-byte (AVX-512) dot products of <see cref="MatrixVectorKernel"/> for half-precision rows: the same loops with
/// 16-lane vectors, half the instructions per weight. Half-precision rows are widened from 64-byte loads of 32 weights against a copy of <c>h</c>
/// reordered in groups of 32 (<see cref="HalfWidening.Reorder(float*, float*, int, bool, int)"/>).
/// </summary>
internal static unsafe partial class MatrixVectorKernel
{
    /// <summary>
    /// How far ahead the float16 one-row loops read the scan's copies of flagged chunks into L1 (one request per chunk
    /// of the row): 8 copies, about 100 chunks of a row at GPT-2's initialisation. 256 and 1,024-2,048 bytes measured
    /// 1.002-1.009x the step time of 512 (docs/benchmarks.md, run AB); without it the copies cost what they save.
    /// </summary>
    internal const int CopyReadAhead = 512;

    /// <summary>A bfloat16 row, 64 weights per step: each 32-bit lane of a load holds two, widened by a shift (low) and a mask (high).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotBFloat16Wide(ushort* w, float* h, float* ordered, int columns)
    {
        if (ordered == null)
        {
            float sum = 0;
            for (int i = 0; i < columns; i++)
            {
                sum += HalfWidening.BFloat16(w[i]) * h[i];
            }

            return sum;
        }

        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int j = 0;
        for (; j <= columns - 64; j += 64)
        {
            PrefetchAhead(w + j, 128);
            BFloat16Step(
                w + j, Avx512F.LoadVector512(ordered + j), Avx512F.LoadVector512(ordered + j + 16), Avx512F.LoadVector512(ordered + j + 32),
                Avx512F.LoadVector512(ordered + j + 48), ref a0, ref a1, ref a2, ref a3);
        }

        return FinishBFloat16Wide(w, h, ordered, columns, j, a0, a1, a2, a3);
    }

    /// <summary>
    /// <see cref="DotFloat16Wide"/> for a float16 row a scan found finite (<see cref="Float16WeightScan"/>): no
    /// running maxima, and chunks of 32 columns it flagged for subnormals (bit <c>c</c> of <paramref name="flags"/> for
    /// chunk <c>c</c>; null: none) are widened exactly into normal float32 values and multiplied by the reordered <paramref name="unscaled"/> <paramref name="h"/>, the
    /// others as usual against <paramref name="ordered"/> (<c>h · 2^112</c>); the same products into the same
    /// accumulators, so the same sum, without a multiply-add on a subnormal.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotFiniteFloat16Wide(ushort* w, float* h, float* ordered, float* unscaled, int columns, ulong* flags)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int j = 0;

        // 64 columns (two chunks) per step as in DotFloat16Wide: the first chunk into a0/a1, the second into a2/a3; the
        // flags of 64 chunks are read once and shifted down two per step.
        for (int word = 0; j <= columns - 64; word++)
        {
            ulong f = flags == null ? 0 : flags[word];
            int end = Math.Min(columns & ~63, j + (64 * 32));
            for (; j < end; j += 64, f >>= 2)
            {
                PrefetchAhead(w + j, 128);
                FiniteFloat16Step(
                    w + j, f, Avx512F.LoadVector512(ordered + j), Avx512F.LoadVector512(ordered + j + 16), Avx512F.LoadVector512(ordered + j + 32),
                    Avx512F.LoadVector512(ordered + j + 48), ordered + j, unscaled + j, ref a0, ref a1, ref a2, ref a3);
            }
        }

        // A chunk left over after the last 64 columns goes into a0/a1, as in DotFloat16Wide.
        return FinishFiniteFloat16Wide(w, h, ordered, unscaled, columns, flags, j, a0, a1, a2, a3);
    }

    /// <summary>
    /// <see cref="DotFiniteFloat16Wide"/> without a branch per chunk: a flagged chunk is read from the scan's copy times
    /// 2^10 (<paramref name="copies"/>, the row's, in order) and multiplied by <paramref name="lifted"/> (<c>h · 2^102</c>),
    /// chosen by address arithmetic; the same products and sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotFiniteFloat16WideCopied(ushort* w, float* h, float* ordered, float* unscaled, float* lifted, int columns, ulong* flags, byte* copies)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int j = 0;
        nint inputDistance = (nint)lifted - (nint)ordered;
        for (int word = 0; j <= columns - 64; word++)
        {
            ulong f = flags[word];
            int end = Math.Min(columns & ~63, j + (64 * 32));
            for (; j < end; j += 64, f >>= 2)
            {
                PrefetchAhead(w + j, 128);
                Sse.Prefetch0(copies + CopyReadAhead);
                byte* chunk = (byte*)(w + j);
                nint take0 = -(nint)(f & 1), take1 = -(nint)((f >> 1) & 1);
                var p0 = Avx512F.LoadVector512((int*)(chunk + (((nint)copies - (nint)chunk) & take0)));
                copies += Float16WeightScan.ChunkBytes & take0;
                var p1 = Avx512F.LoadVector512((int*)(chunk + 64 + (((nint)copies - (nint)(chunk + 64)) & take1)));
                copies += Float16WeightScan.ChunkBytes & take1;
                float* x0 = (float*)((nint)(ordered + j) + (inputDistance & take0));
                float* x1 = (float*)((nint)(ordered + j + 32) + (inputDistance & take1));
                a0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(p0), Avx512F.LoadVector512(x0), a0);
                a1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(p0), Avx512F.LoadVector512(x0 + 16), a1);
                a2 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(p1), Avx512F.LoadVector512(x1), a2);
                a3 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(p1), Avx512F.LoadVector512(x1 + 16), a3);
            }
        }

        return FinishFiniteFloat16Wide(w, h, ordered, unscaled, columns, flags, j, a0, a1, a2, a3);
    }

    /// <summary>
    /// One chunk of 32 finite float16 weights (one 64-byte load) into its two accumulators: widened by the shortcut against
    /// <c>h · 2^112</c> at <paramref name="ordered"/>, or, when <paramref name="flagged"/> (it holds a subnormal), exactly
    /// into normal float32 values against the unscaled <c>h</c> at <paramref name="unscaled"/>: the same products either
    /// way. Serves the head's loop and <see cref="BatchedMatrixKernel"/>'s four-row tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void FiniteFloat16Chunk(Vector512<int> pairs, bool flagged, float* ordered, float* unscaled, ref Vector512<float> even, ref Vector512<float> odd)
    {
        if (flagged)
        {
            even = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowNormal(pairs), Avx512F.LoadVector512(unscaled), even);
            odd = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighNormal(pairs), Avx512F.LoadVector512(unscaled + 16), odd);
        }
        else
        {
            even = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(pairs), Avx512F.LoadVector512(ordered), even);
            odd = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(pairs), Avx512F.LoadVector512(ordered + 16), odd);
        }
    }

    /// <summary>
    /// A float16 row, 64 weights per step, against the reordered <c>h · 2^112</c> when there is one; a row holding an
    /// infinity or NaN is summed again with exact widening (the 32-byte exact loop, as in <see cref="DotFloat16{TCheck}"/>).
    /// Weights a scan found finite take <see cref="DotFiniteFloat16Wide"/> instead.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotFloat16Wide(ushort* w, float* h, float* ordered, int columns)
    {
        if (ordered == null)
        {
            return DotFloat16<RangeChecked>(w, h, null, columns);
        }

        int j = 0;
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        var a2 = Vector512<float>.Zero;
        var a3 = Vector512<float>.Zero;
        var unsignedMaximum = Vector512<ushort>.Zero;
        var signedMaximum = Vector512<short>.Zero;
        for (; j <= columns - 64; j += 64)
        {
            PrefetchAhead(w + j, 128);
            var x0 = Avx512F.LoadVector512((int*)(w + j));
            var x1 = Avx512F.LoadVector512((int*)(w + j + 32));
            unsignedMaximum = Avx512BW.Max(Avx512BW.Max(unsignedMaximum, x0.AsUInt16()), x1.AsUInt16());
            signedMaximum = Avx512BW.Max(Avx512BW.Max(signedMaximum, x0.AsInt16()), x1.AsInt16());
            a0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(x0), Avx512F.LoadVector512(ordered + j), a0);
            a1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(x0), Avx512F.LoadVector512(ordered + j + 16), a1);
            a2 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(x1), Avx512F.LoadVector512(ordered + j + 32), a2);
            a3 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(x1), Avx512F.LoadVector512(ordered + j + 48), a3);
        }

        for (; j <= columns - 32; j += 32)
        {
            var x0 = Avx512F.LoadVector512((int*)(w + j));
            unsignedMaximum = Avx512BW.Max(unsignedMaximum, x0.AsUInt16());
            signedMaximum = Avx512BW.Max(signedMaximum, x0.AsInt16());
            a0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(x0), Avx512F.LoadVector512(ordered + j), a0);
            a1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(x0), Avx512F.LoadVector512(ordered + j + 16), a1);
        }

        if (HalfWidening.HasInfinityOrNaN(unsignedMaximum, signedMaximum))
        {
            return DotFloat16<RangeChecked>(w, h, null, columns);
        }

        float sum = Vector512.Sum(Avx512F.Add(Avx512F.Add(a0, a1), Avx512F.Add(a2, a3)));
        for (; j < columns; j++)
        {
            sum += (float)BitConverter.UInt16BitsToHalf(w[j]) * h[j];
        }

        return sum;
    }
}
