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

    /// <summary>A bfloat16 row, 64 weights per step: each 32-bit lane of a load holds two, widened by a shift (low) and a mask (high).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotBFloat16Wide(ushort* w, float* h, float* ordered, int columns)
    {
        int j = 0;
        float sum = 0;
        if (ordered != null)
        {
            var a0 = Vector512<float>.Zero;
            var a1 = Vector512<float>.Zero;
            var a2 = Vector512<float>.Zero;
            var a3 = Vector512<float>.Zero;
            for (; j <= columns - 64; j += 64)
            {
                PrefetchAhead(w + j, 128);
                var x0 = Avx512F.LoadVector512((int*)(w + j));
                var x1 = Avx512F.LoadVector512((int*)(w + j + 32));
                a0 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16Low(x0), Avx512F.LoadVector512(ordered + j), a0);
                a1 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16High(x0), Avx512F.LoadVector512(ordered + j + 16), a1);
                a2 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16Low(x1), Avx512F.LoadVector512(ordered + j + 32), a2);
                a3 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16High(x1), Avx512F.LoadVector512(ordered + j + 48), a3);
            }

            for (; j <= columns - 32; j += 32)
            {
                var x0 = Avx512F.LoadVector512((int*)(w + j));
                a0 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16Low(x0), Avx512F.LoadVector512(ordered + j), a0);
                a1 = Avx512F.FusedMultiplyAdd(HalfWidening.BFloat16High(x0), Avx512F.LoadVector512(ordered + j + 16), a1);
            }

            sum = Vector512.Sum(Avx512F.Add(Avx512F.Add(a0, a1), Avx512F.Add(a2, a3)));
        }

        for (; j < columns; j++)
        {
            sum += HalfWidening.BFloat16(w[j]) * h[j];
        }

        return sum;
    }

    /// <summary>
    /// A float16 row, 64 weights per step, against the reordered <c>h · 2^112</c> when there is one; a row holding an
    /// infinity or NaN is summed again with exact widening (the 32-byte exact loop, as in <see cref="DotFloat16"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotFloat16Wide(ushort* w, float* h, float* ordered, int columns)
    {
        if (ordered == null)
        {
            return DotFloat16(w, h, null, columns);
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
            return DotFloat16(w, h, null, columns);
        }

        float sum = Vector512.Sum(Avx512F.Add(Avx512F.Add(a0, a1), Avx512F.Add(a2, a3)));
        for (; j < columns; j++)
        {
            sum += (float)BitConverter.UInt16BitsToHalf(w[j]) * h[j];
        }

        return sum;
    }
}
