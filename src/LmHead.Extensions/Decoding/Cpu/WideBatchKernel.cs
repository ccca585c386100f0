using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The wide-batch tiles of the float32 kernels with AVX-512: four weight rows against four rows of <c>X</c> at once for
/// the linear layers (<see cref="MultiplySingleBlock"/>), two weight rows against four hidden states for the head
/// (<see cref="HeadTile"/>), sixteen 16-lane accumulators in registers either way, so each load serves several
/// multiply-adds (the 8-lane kernels load one operand per multiply-add and are bound by loads, not by the FMA units).
/// </summary>
/// <remarks>
/// A 16-lane accumulator over columns <c>j .. j + 15</c> holds in its lower half exactly what the 8-lane kernels' first
/// accumulator holds (columns <c>j .. j + 7</c>) and in its upper half what their second one holds, each lane summed by
/// the same fused multiply-adds in the same order; <see cref="Tile"/> folds the halves with the same lane-wise add. So
/// every result is bit-identical to the 8-lane kernels' (<see cref="BatchedMatrixKernel"/>, <see cref="MatrixVectorKernel"/>
/// through <c>BatchedHeadProjection</c>), whatever the batch: a sequence's logits do not depend on what runs beside it.
/// </remarks>
internal static unsafe class WideBatchKernel
{
    /// <summary>Whether the tile runs here: AVX-512F plus the AVX2/FMA path of the other kernels.</summary>
    public static bool IsSupported { get; } = Avx512F.IsSupported && MatrixVectorKernel.IsAccelerated;

    /// <summary>
    /// <see cref="BatchedMatrixKernel"/>'s float32 block (without bias) for the rows of <c>X</c> in groups of four:
    /// <c>Y[b, o] = Σᵢ W[o, i] · X[b, i]</c> for <c>o</c> in <c>[first, first + count)</c>, summed in that kernel's order
    /// (16 columns at a time, then the leftover columns one fused multiply-add at a time).
    /// </summary>
    /// <returns>How many rows of <c>X</c> were done (a multiple of four); the caller does the rest.</returns>
    public static int MultiplySingleBlock(float* weight, int first, int count, int inputs, float* x, int batch, float* y, int outputs)
    {
        int vectorEnd = inputs & ~15;
        var folded = stackalloc Vector256<float>[16];
        int b = 0;

        // Four rows of X (in L1) against the block's weight rows four at a time (from L2 after the first group).
        for (; b + 4 <= batch; b += 4)
        {
            float* xs = x + ((long)b * inputs);
            for (int o = first; o < first + count; o += 4)
            {
                // The last group of a block may hold fewer than four weight rows: its one row is repeated (stride 0).
                int rows = Math.Min(4, first + count - o);
                for (int r = 0; r < rows; r += rows == 4 ? 4 : 1)
                {
                    float* w = weight + ((long)(o + r) * inputs);
                    Tile(w, rows == 4 ? inputs : 0, xs, inputs, vectorEnd, folded);
                    for (int c = 0; c < 4; c++)
                    {
                        float* input = xs + ((long)c * inputs);
                        float* output = y + ((long)(b + c) * outputs) + o + r;
                        for (int k = 0; k < (rows == 4 ? 4 : 1); k++)
                        {
                            float sum = Vector256.Sum(folded[(k * 4) + c]);
                            output[k] = Leftover(sum, w + ((long)k * inputs), input, vectorEnd, inputs);
                        }
                    }
                }
            }
        }

        return b;
    }

    /// <summary>
    /// The head's dot products (<see cref="MatrixVectorKernel"/>'s order: four 8-lane accumulators over blocks of 32
    /// columns, added pairwise, then across the lanes, then the tail by separate multiplies and adds) of two weight rows
    /// (<paramref name="columns"/> apart) with four hidden states (<paramref name="columns"/> apart); result
    /// <c>(r, c)</c> goes to <c>output[c · outputStride + r]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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

    /// <summary>The 8-lane kernel's <c>Sum((a0 + a1) + (a2 + a3))</c> from the 16-lane accumulators of the two halves of a 32-column block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HeadSum(Vector512<float> first, Vector512<float> second) => Vector256.Sum(Avx.Add(Fold(first), Fold(second)));

    /// <summary>
    /// Sixteen accumulators <c>(r, c)</c> = Σ over <c>j = 0, 16, …</c> (<c>j + 16 ≤ end</c>) of
    /// <c>W[r, j .. j + 15] · X[c, j .. j + 15]</c>, each folded to 8 lanes (lower half + upper half) into
    /// <c>folded[r · 4 + c]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* w, long weightStride, float* x, long inputStride, int end, Vector256<float>* folded)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default;
        float* w0 = w, w1 = w0 + weightStride, w2 = w1 + weightStride, w3 = w2 + weightStride;
        float* x0 = x, x1 = x0 + inputStride, x2 = x1 + inputStride, x3 = x2 + inputStride;
        for (int j = 0; j + 16 <= end; j += 16)
        {
            var v0 = Avx512F.LoadVector512(w0 + j);
            var v1 = Avx512F.LoadVector512(w1 + j);
            var v2 = Avx512F.LoadVector512(w2 + j);
            var v3 = Avx512F.LoadVector512(w3 + j);
            var u = Avx512F.LoadVector512(x0 + j);
            a0 = Avx512F.FusedMultiplyAdd(v0, u, a0);
            b0 = Avx512F.FusedMultiplyAdd(v1, u, b0);
            c0 = Avx512F.FusedMultiplyAdd(v2, u, c0);
            d0 = Avx512F.FusedMultiplyAdd(v3, u, d0);
            u = Avx512F.LoadVector512(x1 + j);
            a1 = Avx512F.FusedMultiplyAdd(v0, u, a1);
            b1 = Avx512F.FusedMultiplyAdd(v1, u, b1);
            c1 = Avx512F.FusedMultiplyAdd(v2, u, c1);
            d1 = Avx512F.FusedMultiplyAdd(v3, u, d1);
            u = Avx512F.LoadVector512(x2 + j);
            a2 = Avx512F.FusedMultiplyAdd(v0, u, a2);
            b2 = Avx512F.FusedMultiplyAdd(v1, u, b2);
            c2 = Avx512F.FusedMultiplyAdd(v2, u, c2);
            d2 = Avx512F.FusedMultiplyAdd(v3, u, d2);
            u = Avx512F.LoadVector512(x3 + j);
            a3 = Avx512F.FusedMultiplyAdd(v0, u, a3);
            b3 = Avx512F.FusedMultiplyAdd(v1, u, b3);
            c3 = Avx512F.FusedMultiplyAdd(v2, u, c3);
            d3 = Avx512F.FusedMultiplyAdd(v3, u, d3);
        }

        folded[0] = Fold(a0); folded[1] = Fold(a1); folded[2] = Fold(a2); folded[3] = Fold(a3);
        folded[4] = Fold(b0); folded[5] = Fold(b1); folded[6] = Fold(b2); folded[7] = Fold(b3);
        folded[8] = Fold(c0); folded[9] = Fold(c1); folded[10] = Fold(c2); folded[11] = Fold(c3);
        folded[12] = Fold(d0); folded[13] = Fold(d1); folded[14] = Fold(d2); folded[15] = Fold(d3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fold(Vector512<float> sum) => Avx.Add(sum.GetLower(), sum.GetUpper());

    /// <summary><see cref="BatchedMatrixKernel"/>'s leftover columns: one fused multiply-add at a time, in order.</summary>
    private static float Leftover(float sum, float* w, float* x, int j, int inputs)
    {
        for (; j < inputs; j++)
        {
            sum = MathF.FusedMultiplyAdd(w[j], x[j], sum);
        }

        return sum;
    }
}
