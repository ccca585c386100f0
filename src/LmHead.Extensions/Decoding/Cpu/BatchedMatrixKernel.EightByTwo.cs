using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The float32 8 × 2 register tile of <see cref="BatchedMatrixKernel"/>'s 64-byte path: eight weight rows against two
/// rows of <c>X</c>, in the same two passes of sixteen 16-lane accumulators as the 4 × 4 tile (<c>WideFourByFour</c>),
/// so every result keeps the 64-byte kernels' one order and is bit-identical to the 4 × 4 and one-row tiles'.
/// </summary>
/// <remarks>
/// <para>Why eight weight rows: at B = 16 a block's sixteen rows of <c>X</c> (48 KiB at 768 columns) do not stay in L1
/// beside the weights, so the 4 × 4 tile reads four rows of <c>X</c> from L2 for every sixteen multiply-adds; each such
/// read holds a line fill buffer, and so do the prefetches of the next weight rows from memory, which then stall. Eight
/// weight rows (24 KiB at 768 columns, kept in L1 while the pairs of <c>X</c> pass) halve the reads of <c>X</c> per
/// multiply-add.</para>
/// <para>Wider rows (GPT-2's 3,072-column MLP projection) go in chunks of <see cref="EightByTwoChunk"/> columns, so that
/// the eight weight rows' chunk stays in L1: each pair's accumulators are stored after a chunk and loaded again for the
/// next. Storing and loading a vector does not change it, so every lane still receives the same fused multiply-adds in
/// the same order.</para>
/// </remarks>
internal static unsafe partial class BatchedMatrixKernel
{
    /// <summary>Columns per chunk of the 8 × 2 tile: eight float32 rows of it are 24 KiB, half of L1.</summary>
    private const int EightByTwoChunk = 768;

    /// <summary>
    /// Whether float32 blocks with at least four rows of <c>X</c> take the 8 × 2 tile (else the 4 × 4 tile); both give the
    /// same bits, so tests compare them.
    /// </summary>
    internal static bool UseEightByTwoTile { get; set; } = true;

    private readonly partial struct Job
    {
        /// <summary>
        /// The groups of eight weight rows of <c>[first, end)</c> against every pair of rows of <c>X</c> (a last odd row by
        /// the four-row tile); returns the first row it left (fewer than eight remain).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private int EightRowGroups(int first, int end, long stride, int vectorEnd)
        {
            int pairs = batch & ~1;
            int steps = (pairs / 2) * 2 * (vectorEnd / 32);
            int aheadPerStep = steps == 0 ? 0 : (int)((((8 * stride) + (64L * steps) - 1) / (64L * steps)) * 64);
            bool chunked = vectorEnd > EightByTwoChunk;
            var sums = chunked ? (Vector512<float>*)NativeMemory.AlignedAlloc((nuint)(pairs * 16 * sizeof(Vector512<float>)), 64) : null;
            var reduced = stackalloc Vector512<float>[32];
            float* weights = (float*)weight;
            int o = first;
            try
            {
                for (; o + 8 <= end; o += 8)
                {
                    float* w = weights + ((long)o * inputs);
                    byte* ahead = (byte*)(w + (16L * inputs));
                    if (!chunked)
                    {
                        for (int b = 0; b < pairs; b += 2)
                        {
                            ahead = WideEightByTwoHalf(w, x + ((long)b * inputs), inputs, 0, vectorEnd, 0, reduced, false, ahead, aheadPerStep);
                            ahead = WideEightByTwoHalf(w, x + ((long)b * inputs), inputs, 0, vectorEnd, 16, reduced + 16, false, ahead, aheadPerStep);
                            StoreEightByTwo(w, x + ((long)b * inputs), vectorEnd, reduced, y + ((long)b * outputs) + o);
                        }
                    }
                    else
                    {
                        for (int from = 0; from < vectorEnd; from += EightByTwoChunk)
                        {
                            int to = Math.Min(vectorEnd, from + EightByTwoChunk);
                            for (int b = 0; b < pairs; b += 2)
                            {
                                var pair = sums + (b * 16);
                                ahead = WideEightByTwoHalf(w, x + ((long)b * inputs), inputs, from, to, 0, pair, from > 0, ahead, aheadPerStep);
                                ahead = WideEightByTwoHalf(w, x + ((long)b * inputs), inputs, from, to, 16, pair + 16, from > 0, ahead, aheadPerStep);
                            }
                        }

                        for (int b = 0; b < pairs; b += 2)
                        {
                            StoreEightByTwo(w, x + ((long)b * inputs), vectorEnd, sums + (b * 16), y + ((long)b * outputs) + o);
                        }
                    }

                    for (int rest = pairs; rest < batch; rest++)
                    {
                        for (int q = 0; q < 8; q += 4)
                        {
                            var tile = new Tile((byte*)(w + ((long)q * inputs)), stride, x + ((long)rest * inputs), x + ((long)rest * inputs), inputs, vectorEnd, y + ((long)rest * outputs) + o + q, outputs);
                            WideFourWeightRowsOneInput<WideSingleWeights>(tile);
                        }
                    }
                }
            }
            finally
            {
                NativeMemory.AlignedFree(sums);
            }

            return o;
        }

        /// <summary>Reduces a pair's 32 accumulators (16 of the first halves, then 16 of the second) into <c>Y</c>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void StoreEightByTwo(float* w, float* xs, int vectorEnd, Vector512<float>* pair, float* output)
        {
            // Lane l of the sixteen sums is weight row l % 8 with row l / 8 of the pair: the first eight go to the pair's
            // first row of Y, the last eight to its second.
            var sums = SixteenSums(
                Avx512F.Add(pair[0], pair[16]), Avx512F.Add(pair[2], pair[18]), Avx512F.Add(pair[4], pair[20]), Avx512F.Add(pair[6], pair[22]),
                Avx512F.Add(pair[8], pair[24]), Avx512F.Add(pair[10], pair[26]), Avx512F.Add(pair[12], pair[28]), Avx512F.Add(pair[14], pair[30]),
                Avx512F.Add(pair[1], pair[17]), Avx512F.Add(pair[3], pair[19]), Avx512F.Add(pair[5], pair[21]), Avx512F.Add(pair[7], pair[23]),
                Avx512F.Add(pair[9], pair[25]), Avx512F.Add(pair[11], pair[27]), Avx512F.Add(pair[13], pair[29]), Avx512F.Add(pair[15], pair[31]));
            if (vectorEnd == inputs)
            {
                Avx.Store(output, sums.GetLower());
                Avx.Store(output + outputs, sums.GetUpper());
                return;
            }

            // Leftover columns (fewer than 32) one fused multiply-add at a time after the vector part, as WideLeftover does.
            var lanes = stackalloc float[16];
            Avx512F.Store(lanes, sums);
            for (int l = 0; l < 16; l++)
            {
                int r = l % 8, c = l / 8;
                output[((long)c * outputs) + r] = WideLeftover<WideSingleWeights>(lanes[l], (byte*)(w + ((long)r * inputs)), xs + ((long)c * inputs), vectorEnd, inputs);
            }
        }
    }

    /// <summary>
    /// One pass of the 8 × 2 tile: weight rows <c>w .. w + 7</c> against rows <c>x, x + 1</c> over columns
    /// <c>32k + half .. 32k + half + 15</c> for <c>32k</c> in <c>[from, to)</c>, sixteen accumulators (row-major by weight
    /// row) starting from <paramref name="sums"/> if <paramref name="resume"/>, else from zero, and stored back there.
    /// Unless <paramref name="ahead"/> is null, asks for <paramref name="aheadPerStep"/> bytes from there at every step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static byte* WideEightByTwoHalf(float* w, float* x, int inputs, int from, int to, int half, Vector512<float>* sums, bool resume, byte* ahead, int aheadPerStep)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        if (resume)
        {
            a0 = sums[0]; b0 = sums[1]; a1 = sums[2]; b1 = sums[3]; a2 = sums[4]; b2 = sums[5]; a3 = sums[6]; b3 = sums[7];
            a4 = sums[8]; b4 = sums[9]; a5 = sums[10]; b5 = sums[11]; a6 = sums[12]; b6 = sums[13]; a7 = sums[14]; b7 = sums[15];
        }

        long n = inputs;
        float* w0 = w + half;
        float* x0 = x + half, x1 = x0 + inputs;
        for (int j = from; j < to; j += 32)
        {
            if (ahead != null)
            {
                for (int line = 0; line < aheadPerStep; line += 64)
                {
                    Sse.Prefetch0(ahead + line);
                }

                ahead += aheadPerStep;
            }

            var u0 = Avx512F.LoadVector512(x0 + j);
            var u1 = Avx512F.LoadVector512(x1 + j);
            float* p = w0 + j;
            var v = Avx512F.LoadVector512(p);
            a0 = Avx512F.FusedMultiplyAdd(v, u0, a0);
            b0 = Avx512F.FusedMultiplyAdd(v, u1, b0);
            v = Avx512F.LoadVector512(p + n);
            a1 = Avx512F.FusedMultiplyAdd(v, u0, a1);
            b1 = Avx512F.FusedMultiplyAdd(v, u1, b1);
            v = Avx512F.LoadVector512(p + (2 * n));
            a2 = Avx512F.FusedMultiplyAdd(v, u0, a2);
            b2 = Avx512F.FusedMultiplyAdd(v, u1, b2);
            v = Avx512F.LoadVector512(p + (3 * n));
            a3 = Avx512F.FusedMultiplyAdd(v, u0, a3);
            b3 = Avx512F.FusedMultiplyAdd(v, u1, b3);
            v = Avx512F.LoadVector512(p + (4 * n));
            a4 = Avx512F.FusedMultiplyAdd(v, u0, a4);
            b4 = Avx512F.FusedMultiplyAdd(v, u1, b4);
            v = Avx512F.LoadVector512(p + (5 * n));
            a5 = Avx512F.FusedMultiplyAdd(v, u0, a5);
            b5 = Avx512F.FusedMultiplyAdd(v, u1, b5);
            v = Avx512F.LoadVector512(p + (6 * n));
            a6 = Avx512F.FusedMultiplyAdd(v, u0, a6);
            b6 = Avx512F.FusedMultiplyAdd(v, u1, b6);
            v = Avx512F.LoadVector512(p + (7 * n));
            a7 = Avx512F.FusedMultiplyAdd(v, u0, a7);
            b7 = Avx512F.FusedMultiplyAdd(v, u1, b7);
        }

        sums[0] = a0; sums[1] = b0; sums[2] = a1; sums[3] = b1; sums[4] = a2; sums[5] = b2; sums[6] = a3; sums[7] = b3;
        sums[8] = a4; sums[9] = b4; sums[10] = a5; sums[11] = b5; sums[12] = a6; sums[13] = b6; sums[14] = a7; sums[15] = b7;
        return ahead;
    }

    /// <summary>
    /// <see cref="Vector512.Sum{T}(Vector512{T})"/> of sixteen vectors at once: lane <c>l</c> of the result is the sum of
    /// <c>v</c><sub>l</sub>'s lanes, bit for bit. That sum is the pairwise tree <c>((v0 + v1) + (v2 + v3)) + ...</c> over
    /// adjacent lanes, quarter by quarter, then the quarters' sums as <c>(q0 + q1) + (q2 + q3)</c>; here each level of the
    /// tree is one shuffle pair and one addition for many vectors instead of two per vector (45 instructions for sixteen
    /// sums instead of about 400). An addition's operands may be swapped (floating-point addition is commutative), never
    /// regrouped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> SixteenSums(
        Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        Vector512<float> v4, Vector512<float> v5, Vector512<float> v6, Vector512<float> v7,
        Vector512<float> v8, Vector512<float> v9, Vector512<float> v10, Vector512<float> v11,
        Vector512<float> v12, Vector512<float> v13, Vector512<float> v14, Vector512<float> v15)
    {
        // Per 128-bit quarter: [a0 + a1, a2 + a3, b0 + b1, b2 + b3], then [S(a), S(b), S(c), S(d)] with S(a) = (a0 + a1) + (a2 + a3).
        var e0 = Pairs(Pairs(v0, v1), Pairs(v2, v3));
        var e1 = Pairs(Pairs(v4, v5), Pairs(v6, v7));
        var e2 = Pairs(Pairs(v8, v9), Pairs(v10, v11));
        var e3 = Pairs(Pairs(v12, v13), Pairs(v14, v15));

        // Quarters: [E.q0 + E.q1, E.q2 + E.q3, F.q0 + F.q1, F.q2 + F.q3], then the two halves' sums added.
        return QuarterPairs(QuarterPairs(e0, e1), QuarterPairs(e2, e3));
    }

    /// <summary>Per 128-bit quarter <c>[a0 + a1, a2 + a3, b0 + b1, b2 + b3]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Pairs(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Add(Avx512F.Shuffle(a, b, 0x88), Avx512F.Shuffle(a, b, 0xDD));

    /// <summary>Quarters <c>[a.q0 + a.q1, a.q2 + a.q3, b.q0 + b.q1, b.q2 + b.q3]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> QuarterPairs(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Add(Avx512F.Shuffle4x128(a, b, 0x88), Avx512F.Shuffle4x128(a, b, 0xDD));
}
