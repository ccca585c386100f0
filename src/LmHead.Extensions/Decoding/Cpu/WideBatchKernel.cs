using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The batched head's float32 tiles with AVX-512: <see cref="HeadEightByTwo"/> (eight weight rows against two hidden
/// states, two passes of sixteen 16-lane accumulators), <see cref="HeadFourByFour"/> (four against four) and
/// <see cref="HeadTile"/> (two weight rows, for the rows the tiles leave), so each load serves several multiply-adds (the 8-lane kernels load one operand per multiply-add and are bound
/// by loads, not by the FMA units).
/// </summary>
/// <remarks>
/// A 16-lane accumulator over columns <c>j .. j + 15</c> holds in its lower half exactly what the 8-lane kernel's first
/// accumulator holds (columns <c>j .. j + 7</c>) and in its upper half what its second one holds, each lane summed by
/// the same fused multiply-adds in the same order; <see cref="Fold"/> adds the halves lane-wise as that kernel does. So
/// every result is bit-identical to <see cref="MatrixVectorKernel"/>'s (through <c>BatchedHeadProjection</c>), whatever
/// the batch: a sequence's logits do not depend on what runs beside it. The linear layers' AVX-512 tiles are
/// <see cref="BatchedMatrixKernel"/>'s 64-byte paths (BatchedMatrixKernel.Wide.cs).
/// </remarks>
internal static unsafe class WideBatchKernel
{
    /// <summary>Whether the tile runs here: AVX-512F plus the AVX2/FMA path of the other kernels.</summary>
    public static bool IsSupported { get; } = Avx512F.IsSupported && MatrixVectorKernel.IsAccelerated;

    /// <summary>
    /// The head's dot products (<see cref="MatrixVectorKernel"/>'s order: four 8-lane accumulators over blocks of 32
    /// columns, added pairwise, then across the lanes, then the tail by separate multiplies and adds) of two weight rows
    /// (<paramref name="columns"/> apart) with four hidden states (<paramref name="columns"/> apart); result
    /// <c>(r, c)</c> goes to <c>output[c · outputStride + r]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static void HeadTile(float* w, float* h, int columns, float* output, long outputStride)
    {
        // Per weight row and hidden state, one accumulator for columns 32k .. 32k + 15 (the 8-lane kernel's first two)
        // and one for 32k + 16 .. 32k + 31 (its last two): sixteen accumulators, one pass over the weight rows.
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default;
        float* w0 = w, w1 = w + columns;
        float* h0 = h, h1 = h0 + columns, h2 = h1 + columns, h3 = h2 + columns;
        int j = 0;
        for (; j <= columns - 32; j += 32)
        {
            var v0 = Avx512F.LoadVector512(w0 + j);
            var v1 = Avx512F.LoadVector512(w1 + j);
            var u = Avx512F.LoadVector512(h0 + j);
            a0 = Avx512F.FusedMultiplyAdd(v0, u, a0);
            c0 = Avx512F.FusedMultiplyAdd(v1, u, c0);
            u = Avx512F.LoadVector512(h1 + j);
            a1 = Avx512F.FusedMultiplyAdd(v0, u, a1);
            c1 = Avx512F.FusedMultiplyAdd(v1, u, c1);
            u = Avx512F.LoadVector512(h2 + j);
            a2 = Avx512F.FusedMultiplyAdd(v0, u, a2);
            c2 = Avx512F.FusedMultiplyAdd(v1, u, c2);
            u = Avx512F.LoadVector512(h3 + j);
            a3 = Avx512F.FusedMultiplyAdd(v0, u, a3);
            c3 = Avx512F.FusedMultiplyAdd(v1, u, c3);
            v0 = Avx512F.LoadVector512(w0 + j + 16);
            v1 = Avx512F.LoadVector512(w1 + j + 16);
            u = Avx512F.LoadVector512(h0 + j + 16);
            b0 = Avx512F.FusedMultiplyAdd(v0, u, b0);
            d0 = Avx512F.FusedMultiplyAdd(v1, u, d0);
            u = Avx512F.LoadVector512(h1 + j + 16);
            b1 = Avx512F.FusedMultiplyAdd(v0, u, b1);
            d1 = Avx512F.FusedMultiplyAdd(v1, u, d1);
            u = Avx512F.LoadVector512(h2 + j + 16);
            b2 = Avx512F.FusedMultiplyAdd(v0, u, b2);
            d2 = Avx512F.FusedMultiplyAdd(v1, u, d2);
            u = Avx512F.LoadVector512(h3 + j + 16);
            b3 = Avx512F.FusedMultiplyAdd(v0, u, b3);
            d3 = Avx512F.FusedMultiplyAdd(v1, u, d3);
        }

        // Every accumulator is reduced (into memory) before the tails, and the tails make no call: a vector live across a
        // call is kept on the stack through the whole loop by the register allocator.
        var sums = stackalloc float[8];
        sums[0] = HeadSum(a0, b0); sums[1] = HeadSum(a1, b1); sums[2] = HeadSum(a2, b2); sums[3] = HeadSum(a3, b3);
        sums[4] = HeadSum(c0, d0); sums[5] = HeadSum(c1, d1); sums[6] = HeadSum(c2, d2); sums[7] = HeadSum(c3, d3);
        for (int r = 0; r < 2; r++)
        {
            float* wr = w + ((long)r * columns);
            for (int c = 0; c < 4; c++)
            {
                float* hc = h + ((long)c * columns);
                float sum = sums[(r * 4) + c];
                for (int k = j; k < columns; k++)
                {
                    sum += wr[k] * hc[k];
                }

                output[(c * outputStride) + r] = sum;
            }
        }
    }

    /// <summary>
    /// Whether the batched head takes <see cref="HeadFourByFour"/> (four weight rows at a time) rather than
    /// <see cref="HeadTile"/> (two) for each group of four hidden states; both give the same bits, so tests compare them.
    /// </summary>
    internal static bool UseFourByFourTile { get; set; } = true;

    /// <summary>
    /// <see cref="HeadTile"/>'s sixteen dot products for four weight rows instead of two: each loaded vector then serves
    /// four multiply-adds, not two (the two-row tile is bound by its loads). The sixteen accumulators per 16-column half
    /// of <see cref="BatchedMatrixKernel"/>'s 4 × 4 tile are exactly <see cref="HeadTile"/>'s <c>a</c> (first half) and
    /// <c>b</c> (second half) accumulators, so reducing them with <see cref="HeadSum"/> and then adding the tail by
    /// separate multiplies and adds gives <see cref="MatrixVectorKernel"/>'s sums bit for bit. Result <c>(r, c)</c>
    /// goes to <c>output[c · outputStride + r]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static void HeadFourByFour(float* w, float* h, int columns, float* output, long outputStride)
    {
        int vectorEnd = columns & ~31;
        var firstHalves = stackalloc Vector512<float>[16];
        var secondHalves = stackalloc Vector512<float>[16];
        BatchedMatrixKernel.WideFourByFourHalf(w, h, columns, vectorEnd, 0, firstHalves, null, 0);
        BatchedMatrixKernel.WideFourByFourHalf(w, h, columns, vectorEnd, 16, secondHalves, null, 0);
        for (int r = 0; r < 4; r++)
        {
            float* wr = w + ((long)r * columns);
            for (int c = 0; c < 4; c++)
            {
                float* hc = h + ((long)c * columns);
                float sum = HeadSum(firstHalves[(r * 4) + c], secondHalves[(r * 4) + c]);
                for (int k = vectorEnd; k < columns; k++)
                {
                    sum += wr[k] * hc[k];
                }

                output[(c * outputStride) + r] = sum;
            }
        }
    }

    /// <summary>
    /// Whether the batched head takes <see cref="HeadEightByTwo"/> (eight weight rows, pairs of hidden states) for the rows
    /// it can; the 4 × 4 and two-row tiles give the same bits, so tests compare them.
    /// </summary>
    internal static bool UseEightByTwoTile { get; set; } = true;

    /// <summary>
    /// Sixteen dot products of weight rows <c>w .. w + 7</c> with hidden states <c>h, h + 1</c> (all <paramref name="columns"/>
    /// apart) in <see cref="MatrixVectorKernel"/>'s order: the accumulators of the linear layers' 8 × 2 tile
    /// (<see cref="BatchedMatrixKernel.WideEightByTwoHalf"/>, the same lanes as <see cref="HeadTile"/>'s <c>a</c> and
    /// <c>b</c>), reduced as <see cref="HeadSum"/> does for sixteen at once, then the tail by separate multiplies and adds.
    /// Result <c>(r, c)</c> goes to <c>output[c · outputStride + r]</c>. Unless <paramref name="ahead"/> is null, asks for
    /// <paramref name="aheadPerStep"/> bytes from there at every step of the two passes; returns where the next call continues.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static byte* HeadEightByTwo(float* w, float* h, int columns, float* output, long outputStride, byte* ahead, int aheadPerStep)
    {
        int vectorEnd = columns & ~31;
        var s = stackalloc Vector512<float>[32];
        ahead = BatchedMatrixKernel.WideEightByTwoHalf(w, h, columns, 0, vectorEnd, 0, s, false, ahead, aheadPerStep);
        ahead = BatchedMatrixKernel.WideEightByTwoHalf(w, h, columns, 0, vectorEnd, 16, s + 16, false, ahead, aheadPerStep);

        // s[2r + c] and s[16 + 2r + c]: weight row r with hidden state c, first and second halves. z_i holds rows i and
        // 4 + i of the first hidden state (i < 4), z_4+i the same rows of the second, so the sums' lanes are rows 0-7 with
        // the first hidden state, then rows 0-7 with the second.
        var sums = HeadSixteenSums(
            HeadFolds(s, 0, 8), HeadFolds(s, 2, 10), HeadFolds(s, 4, 12), HeadFolds(s, 6, 14),
            HeadFolds(s, 1, 9), HeadFolds(s, 3, 11), HeadFolds(s, 5, 13), HeadFolds(s, 7, 15));
        if (vectorEnd == columns)
        {
            Avx.Store(output, sums.GetLower());
            Avx.Store(output + outputStride, sums.GetUpper());
            return ahead;
        }

        var lanes = stackalloc float[16];
        Avx512F.Store(lanes, sums);
        for (int l = 0; l < 16; l++)
        {
            int r = l % 8, c = l / 8;
            float* wr = w + ((long)r * columns), hc = h + ((long)c * columns);
            float sum = lanes[l];
            for (int k = vectorEnd; k < columns; k++)
            {
                sum += wr[k] * hc[k];
            }

            output[(c * outputStride) + r] = sum;
        }

        return ahead;
    }

    /// <summary>
    /// <see cref="Fold"/>(first) + <see cref="Fold"/>(second) of accumulator pairs <paramref name="k"/> and <paramref name="m"/>
    /// (first halves at <c>s[k]</c>, second halves at <c>s[16 + k]</c>): the 256-bit sum of <c>k</c> in the lower half
    /// of the result, of <c>m</c> in the upper half.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HeadFolds(Vector512<float>* s, int k, int m)
    {
        var first = Avx512F.Add(Avx512F.Shuffle4x128(s[k], s[m], 0x44), Avx512F.Shuffle4x128(s[k], s[m], 0xEE));
        var second = Avx512F.Add(Avx512F.Shuffle4x128(s[16 + k], s[16 + m], 0x44), Avx512F.Shuffle4x128(s[16 + k], s[16 + m], 0xEE));
        return Avx512F.Add(first, second);
    }

    /// <summary>
    /// <see cref="Vector256.Sum{T}(Vector256{T})"/> of the sixteen 256-bit halves of <paramref name="z0"/> .. <paramref name="z7"/>
    /// at once: lane <c>l</c> is the lower half of <c>z</c><sub>l % 4</sub> for <c>l</c> &lt; 4, its upper half for 4 ≤ l &lt; 8,
    /// and the same for <c>z</c><sub>4 + l % 4</sub> in lanes 8-15 (each the pairwise tree over adjacent lanes per quarter,
    /// then <c>q0 + q1</c>, bit for bit).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> HeadSixteenSums(
        Vector512<float> z0, Vector512<float> z1, Vector512<float> z2, Vector512<float> z3,
        Vector512<float> z4, Vector512<float> z5, Vector512<float> z6, Vector512<float> z7)
    {
        var e0 = BatchedMatrixKernel.Pairs(BatchedMatrixKernel.Pairs(z0, z1), BatchedMatrixKernel.Pairs(z2, z3));
        var e1 = BatchedMatrixKernel.Pairs(BatchedMatrixKernel.Pairs(z4, z5), BatchedMatrixKernel.Pairs(z6, z7));
        return BatchedMatrixKernel.QuarterPairs(e0, e1);
    }

    /// <summary>The 8-lane kernel's <c>Sum((a0 + a1) + (a2 + a3))</c> from the 16-lane accumulators of the two halves of a 32-column block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HeadSum(Vector512<float> first, Vector512<float> second) => Vector256.Sum(Avx.Add(Fold(first), Fold(second)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fold(Vector512<float> sum) => Avx.Add(sum.GetLower(), sum.GetUpper());
}
