using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The float32 register tile of <see cref="BatchedMatrixKernel"/>'s 64-byte path for four or more rows of <c>X</c>: four
/// weight rows against four rows of <c>X</c>, sixteen dot products at once, so each load serves four multiply-adds
/// (the one-weight-row tile loads five vectors per four multiply-adds and is bound by the load ports, not the FMA units).
/// </summary>
/// <remarks>
/// <para>Batch invariance: the 64-byte order keeps two 16-lane accumulators per dot product, one over the first half of
/// every 32-column step and one over the second; thirty-two accumulators do not fit beside the operands in the 32
/// vector registers, so the tile makes two passes, the first over the first halves and the second over the second
/// halves, each with sixteen accumulators. Every lane still receives the same fused multiply-adds in the same order,
/// and the two are then added and reduced exactly as <c>WideLanes</c> and <c>WideLeftover</c> do for one row, so each
/// result is bit-identical to the other 64-byte micro-kernels' whatever the batch.</para>
/// <para>Within a block, each group of four weight rows stays in L1 while every group of four rows of <c>X</c> passes
/// over it, so the weights are read from memory once per call however large the batch.</para>
/// </remarks>
internal static unsafe partial class BatchedMatrixKernel
{
    private readonly partial struct Job
    {
        /// <summary>The float32 block with at least four rows of <c>X</c>: 8 × 2 tiles, 4 × 4 tiles, then the leftover rows of <c>X</c> and of <c>W</c>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void SingleBlockTiled(int first, int count)
        {
            long stride = (long)inputs * sizeof(float);
            int vectorEnd = inputs & ~31, groups = batch & ~3, end = first + count;
            float* weights = (float*)weight;
            // Groups of eight weight rows first (BatchedMatrixKernel.EightByTwo.cs), then what is left in groups of four.
            int o = UseEightByTwoTile ? EightRowGroups(first, end, stride, vectorEnd) : first;

            // The four weight rows after the next four (one contiguous run of bytes) are asked for evenly over all the tile's
            // steps, so their reads overlap the multiply-adds of every group (a burst of prefetches at the start of the first
            // group stalls on the line fill buffers and leaves the later groups with no reads in flight); two tiles ahead
            // rather than one gave each read a tile's time more to arrive. Past the matrix's end they never fault.
            int steps = (groups / 4) * 2 * (vectorEnd / 32);
            int aheadPerStep = steps == 0 ? 0 : (int)((((4 * stride) + (64L * steps) - 1) / (64L * steps)) * 64);
            for (; o + 4 <= end; o += 4)
            {
                float* w = weights + ((long)o * inputs);
                byte* ahead = (byte*)(w + (8L * inputs));
                for (int b = 0; b < groups; b += 4)
                {
                    ahead = WideFourByFour(w, x + ((long)b * inputs), inputs, vectorEnd, y + ((long)b * outputs) + o, outputs, ahead, aheadPerStep);
                }

                for (int rest = groups; rest < batch; rest++)
                {
                    var tile = new Tile((byte*)w, stride, x + ((long)rest * inputs), x + ((long)rest * inputs), inputs, vectorEnd, y + ((long)rest * outputs) + o, outputs);
                    WideFourWeightRowsOneInput<WideSingleWeights>(tile);
                }
            }

            for (; o < end; o++)
            {
                byte* w = (byte*)(weights + ((long)o * inputs));
                int b = 0;
                for (; b < groups; b += 4)
                {
                    WideOneWeightRowFourInputs<WideSingleWeights>(new Tile(w, stride, x + ((long)b * inputs), x + ((long)b * inputs), inputs, vectorEnd, y + ((long)b * outputs) + o, outputs));
                }

                for (; b < batch; b++)
                {
                    WideOneWeightRowOneInput<WideSingleWeights>(new Tile(w, stride, x + ((long)b * inputs), x + ((long)b * inputs), inputs, vectorEnd, y + ((long)b * outputs) + o, outputs));
                }
            }
        }
    }

    /// <summary>
    /// Sixteen dot products: weight rows <c>w .. w + 3</c> (<paramref name="inputs"/> apart) with rows <c>x .. x + 3</c>;
    /// result <c>(r, c)</c> to <c>y[c · outputStride + r]</c>, in the 64-byte kernels' one order (see the type's remarks).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static byte* WideFourByFour(float* w, float* x, int inputs, int vectorEnd, float* y, int outputStride, byte* ahead, int aheadPerStep)
    {
        var firstHalves = stackalloc Vector512<float>[16];
        var secondHalves = stackalloc Vector512<float>[16];
        ahead = WideFourByFourHalf(w, x, inputs, vectorEnd, 0, firstHalves, ahead, aheadPerStep);
        ahead = WideFourByFourHalf(w, x, inputs, vectorEnd, 16, secondHalves, ahead, aheadPerStep);
        for (int r = 0; r < 4; r++)
        {
            float* row = w + ((long)r * inputs);
            for (int c = 0; c < 4; c++)
            {
                // No call when the columns end on a 32-wide step (GPT-2's 768 and 3072): the leftover is not inlined.
                float sum = WideLanes(firstHalves[(r * 4) + c], secondHalves[(r * 4) + c]);
                y[((long)c * outputStride) + r] = vectorEnd == inputs ? sum : WideLeftover<WideSingleWeights>(sum, (byte*)row, x + ((long)c * inputs), vectorEnd, inputs);
            }
        }

        return ahead;
    }

    /// <summary>
    /// One pass of <see cref="WideFourByFour"/>: the sixteen accumulators of columns <c>32k + half .. 32k + half + 15</c>,
    /// stored to <paramref name="sums"/> (row-major by weight row). Unless <paramref name="ahead"/> is null, asks for
    /// <paramref name="aheadPerStep"/> bytes from there at every step; returns where the next pass continues. The batched
    /// head's 4 × 4 tile (<see cref="WideBatchKernel.HeadFourByFour"/>) reduces the same accumulators in its own order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static byte* WideFourByFourHalf(float* w, float* x, int inputs, int vectorEnd, int half, Vector512<float>* sums, byte* ahead, int aheadPerStep)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default;
        float* w0 = w + half, w1 = w0 + inputs, w2 = w1 + inputs, w3 = w2 + inputs;
        float* x0 = x + half, x1 = x0 + inputs, x2 = x1 + inputs, x3 = x2 + inputs;
        for (int j = 0; j < vectorEnd; j += 32)
        {
            if (ahead != null)
            {
                for (int line = 0; line < aheadPerStep; line += 64)
                {
                    Sse.Prefetch0(ahead + line);
                }

                ahead += aheadPerStep;
            }

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

        sums[0] = a0; sums[1] = a1; sums[2] = a2; sums[3] = a3;
        sums[4] = b0; sums[5] = b1; sums[6] = b2; sums[7] = b3;
        sums[8] = c0; sums[9] = c1; sums[10] = c2; sums[11] = c3;
        sums[12] = d0; sums[13] = d1; sums[14] = d2; sums[15] = d3;
        return ahead;
    }
}
