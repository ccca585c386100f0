using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The 64-byte path for float16 weights a scan found finite (<see cref="Float16WeightScan"/>): no running maxima. Chunks
/// the scan flagged for subnormals: the widening shortcut would make those float32 subnormals, and a
/// multiply-add with a subnormal operand costs a microcode assist. A flagged chunk of 32 columns is widened exactly into normal float32
/// values (<see cref="HalfWidening.Float16LowNormal(Vector512{int})"/>) and multiplied by the unscaled copy of <c>X</c>
/// instead of <c>X · 2^112</c>: every product is the same real number, so every fused multiply-add, and the sums, are bit
/// for bit those of the shortcut.
/// </summary>
internal static unsafe partial class BatchedMatrixKernel
{
    /// <summary>
    /// One finite float16 weight row against one row of <c>X · 2^112</c> (<see cref="Tile.Ordered"/>) in the tiles' order
    /// (two accumulators, 32 columns a step), a chunk flagged in <paramref name="flags"/> widened exactly against
    /// <paramref name="unscaled"/>: the rows of a call with fewer than four rows of <c>X</c>, one after the other, read
    /// ahead in one stream (<see cref="MatrixVectorKernel.PrefetchStream"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void WideFiniteHalfRowOneInput(Tile t, float* unscaled, ulong* flags)
    {
        var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
        byte* w = t.Weight;
        for (int j = 0, word = 0; j < t.VectorEnd; word++)
        {
            ulong f = flags == null ? 0 : flags[word];
            int end = Math.Min(t.VectorEnd, j + (64 * 32));
            for (; j < end; j += 32, f >>= 1)
            {
                long offset = (long)j * sizeof(ushort);
                MatrixVectorKernel.PrefetchStream(w + offset);
                MatrixVectorKernel.FiniteFloat16Chunk(Avx512F.LoadVector512((int*)(w + offset)), (f & 1) != 0, t.Ordered + j, unscaled + j, ref a0, ref a1);
            }
        }

        t.Output[0] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(a0, a1), w, t.Plain, t.VectorEnd, t.Inputs);
    }

    /// <summary>
    /// <see cref="WideFiniteHalfRowOneInput"/> without a branch per chunk: a chunk flagged in <paramref name="flags"/> is
    /// read from the scan's copy times 2^10 (<paramref name="copies"/>, this row's, in order; <see cref="Float16WeightFacts.Copies"/>)
    /// and multiplied by <paramref name="lifted"/> (<c>X · 2^102</c>, same layout as <see cref="Tile.Ordered"/>), chosen
    /// by address arithmetic: the same products, the same sums, without the mispredicted branch of a flagged chunk.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void WideFiniteHalfRowOneInputCopied(Tile t, float* lifted, ulong* flags, byte* copies)
    {
        var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
        byte* w = t.Weight;
        nint inputDistance = (nint)lifted - (nint)t.Ordered;
        for (int j = 0, word = 0; j < t.VectorEnd; word++)
        {
            ulong f = flags[word];
            int end = Math.Min(t.VectorEnd, j + (64 * 32));
            for (; j < end; j += 32, f >>= 1)
            {
                byte* chunk = w + ((long)j * sizeof(ushort));
                MatrixVectorKernel.PrefetchStream(chunk);
                Sse.Prefetch0(copies + MatrixVectorKernel.CopyReadAhead);
                nint take = -(nint)(f & 1);
                var pairs = Avx512F.LoadVector512((int*)(chunk + (((nint)copies - (nint)chunk) & take)));
                float* xs = (float*)((nint)(t.Ordered + j) + (inputDistance & take));
                copies += Float16WeightScan.ChunkBytes & take;
                a0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(pairs), Avx512F.LoadVector512(xs), a0);
                a1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(pairs), Avx512F.LoadVector512(xs + 16), a1);
            }
        }

        t.Output[0] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(a0, a1), w, t.Plain, t.VectorEnd, t.Inputs);
    }

    private readonly partial struct Job
    {
        /// <summary>
        /// The block for float16 weights a scan found finite: one weight row against four rows of <c>X</c> at a time by
        /// <see cref="WideFiniteHalfRowFourInputs"/>, then four weight rows against each row of <c>X</c> left by
        /// <see cref="WideFourFiniteHalfRowsOneInput"/>; weight rows left over (fewer than four) by the unflagged
        /// micro-kernel, which takes the assists on subnormals but gives the same sums. With fewer than four rows of
        /// <c>X</c> (a decode step), one weight row at a time by <see cref="WideFiniteHalfRowOneInput"/>: one stream read
        /// ahead instead of four rows' interleaved.
        /// </summary>
        private void FiniteBlockWide(int first, int count)
        {
            long stride = (long)inputs * sizeof(ushort);
            int vectorEnd = inputs & ~31;
            int b = 0;
            for (; batch >= 4 && b + 4 <= batch; b += 4)
            {
                for (int o = first; o < first + count; o++)
                {
                    WideFiniteHalfRowFourInputs(
                        new Tile((byte*)weight + (o * stride), stride, scaled + ((long)b * inputs), x + ((long)b * inputs), inputs, vectorEnd, y + ((long)b * outputs) + o, outputs),
                        ordered + ((long)b * inputs),
                        facts.Row(o));
                }
            }

            for (int o = first; o < first + count; o += 4)
            {
                int rows = Math.Min(4, first + count - o);
                byte* w = (byte*)weight + (o * stride);
                for (int rest = b; rest < batch; rest++)
                {
                    var tile = new Tile(w, stride, scaled + ((long)rest * inputs), x + ((long)rest * inputs), inputs, vectorEnd, y + ((long)rest * outputs) + o, outputs);
                    if (batch < 4)
                    {
                        for (int r = 0; r < rows; r++)
                        {
                            if (lifted != null)
                            {
                                WideFiniteHalfRowOneInputCopied(tile.WithRow(w + (r * stride), tile.Output + r), lifted + ((long)rest * inputs), facts.Row(o + r), facts.Copies(o + r));
                            }
                            else
                            {
                                WideFiniteHalfRowOneInput(tile.WithRow(w + (r * stride), tile.Output + r), ordered + ((long)rest * inputs), facts.Row(o + r));
                            }
                        }

                        continue;
                    }

                    if (rows == 4)
                    {
                        WideFourFiniteHalfRowsOneInput(tile, ordered + ((long)rest * inputs), facts.Row(o), facts.WordsPerRow);
                        continue;
                    }

                    for (int r = 0; r < rows; r++)
                    {
                        WideOneWeightRowOneInput<WideFinitePrescaledHalfWeights>(tile.WithRow(w + (r * stride), tile.Output + r));
                    }
                }
            }
        }
    }

    /// <summary>
    /// <see cref="WideFourWeightRowsOneInput{TWeights}"/> for finite float16 rows against <c>X · 2^112</c> (<see cref="Tile.Ordered"/>),
    /// except that a row's chunk flagged in <paramref name="masks"/> (the first row's words; the next rows' follow
    /// <paramref name="wordsPerRow"/> apart; null: none) is widened exactly and multiplied by <paramref name="unscaled"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void WideFourFiniteHalfRowsOneInput(Tile t, float* unscaled, ulong* masks, int wordsPerRow)
    {
        var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
        var b0 = Vector512<float>.Zero; var b1 = Vector512<float>.Zero;
        var c0 = Vector512<float>.Zero; var c1 = Vector512<float>.Zero;
        var d0 = Vector512<float>.Zero; var d1 = Vector512<float>.Zero;
        byte* w0 = t.Weight, w1 = w0 + t.Stride, w2 = w1 + t.Stride, w3 = w2 + t.Stride;
        ulong* m0 = masks, m1 = m0 + wordsPerRow, m2 = m1 + wordsPerRow, m3 = m2 + wordsPerRow;
        for (int j = 0, word = 0; j < t.VectorEnd; word++)
        {
            // One word of flags per row covers 64 chunks (2,048 columns); shifted down one chunk per step. Each row decides
            // alone (a chunk of one row in 13 is flagged at GPT-2's initialisation; of four rows together, one in four).
            ulong f0 = 0, f1 = 0, f2 = 0, f3 = 0;
            if (masks != null)
            {
                (f0, f1, f2, f3) = (m0[word], m1[word], m2[word], m3[word]);
            }

            int end = Math.Min(t.VectorEnd, j + (64 * 32));
            for (; j < end; j += 32, f0 >>= 1, f1 >>= 1, f2 >>= 1, f3 >>= 1)
            {
                long offset = (long)j * sizeof(ushort);
                PrefetchNextTile(w3 + t.Stride + offset, t.Stride, 64);
                var x0 = Avx512F.LoadVector512(t.Ordered + j);
                var x1 = Avx512F.LoadVector512(t.Ordered + j + 16);
                if (((f0 | f1 | f2 | f3) & 1) == 0)
                {
                    var p0 = Avx512F.LoadVector512((int*)(w0 + offset));
                    var p1 = Avx512F.LoadVector512((int*)(w1 + offset));
                    var p2 = Avx512F.LoadVector512((int*)(w2 + offset));
                    var p3 = Avx512F.LoadVector512((int*)(w3 + offset));
                    a0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(p0), x0, a0);
                    a1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(p0), x1, a1);
                    b0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(p1), x0, b0);
                    b1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(p1), x1, b1);
                    c0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(p2), x0, c0);
                    c1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(p2), x1, c1);
                    d0 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16LowUnscaled(p3), x0, d0);
                    d1 = Avx512F.FusedMultiplyAdd(HalfWidening.Float16HighUnscaled(p3), x1, d1);
                    continue;
                }

                float* s = t.Ordered + j, u = unscaled + j;
                MatrixVectorKernel.FiniteFloat16Chunk(Avx512F.LoadVector512((int*)(w0 + offset)), (f0 & 1) != 0, s, u, ref a0, ref a1);
                MatrixVectorKernel.FiniteFloat16Chunk(Avx512F.LoadVector512((int*)(w1 + offset)), (f1 & 1) != 0, s, u, ref b0, ref b1);
                MatrixVectorKernel.FiniteFloat16Chunk(Avx512F.LoadVector512((int*)(w2 + offset)), (f2 & 1) != 0, s, u, ref c0, ref c1);
                MatrixVectorKernel.FiniteFloat16Chunk(Avx512F.LoadVector512((int*)(w3 + offset)), (f3 & 1) != 0, s, u, ref d0, ref d1);
            }
        }

        t.Output[0] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(a0, a1), w0, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[1] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(b0, b1), w1, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[2] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(c0, c1), w2, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[3] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(d0, d1), w3, t.Plain, t.VectorEnd, t.Inputs);
    }

    /// <summary>
    /// <see cref="WideOneWeightRowFourInputs{TWeights}"/> for a finite float16 row against four rows of <c>X · 2^112</c>
    /// (<see cref="Tile.Ordered"/>), except that a chunk flagged in <paramref name="flags"/> (the row's words; null: none)
    /// is widened exactly and multiplied by the four rows of <paramref name="unscaled"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void WideFiniteHalfRowFourInputs(Tile t, float* unscaled, ulong* flags)
    {
        var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
        var b0 = Vector512<float>.Zero; var b1 = Vector512<float>.Zero;
        var c0 = Vector512<float>.Zero; var c1 = Vector512<float>.Zero;
        var d0 = Vector512<float>.Zero; var d1 = Vector512<float>.Zero;
        int n = t.Inputs;
        for (int j = 0; j < t.VectorEnd; j += 32)
        {
            int chunk = j / 32;
            var pairs = Avx512F.LoadVector512((int*)(t.Weight + ((long)j * sizeof(ushort))));
            Vector512<float> even, odd;
            float* xa;
            if (flags == null || ((flags[chunk >> 6] >> (chunk & 63)) & 1) == 0)
            {
                even = HalfWidening.Float16LowUnscaled(pairs);
                odd = HalfWidening.Float16HighUnscaled(pairs);
                xa = t.Ordered;
            }
            else
            {
                even = HalfWidening.Float16LowNormal(pairs);
                odd = HalfWidening.Float16HighNormal(pairs);
                xa = unscaled;
            }

            float* xb = xa + n, xc = xb + n, xd = xc + n;
            a0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(xa + j), a0);
            a1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(xa + j + 16), a1);
            b0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(xb + j), b0);
            b1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(xb + j + 16), b1);
            c0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(xc + j), c0);
            c1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(xc + j + 16), c1);
            d0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(xd + j), d0);
            d1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(xd + j + 16), d1);
        }

        int s = t.OutputStride;
        t.Output[0] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(a0, a1), t.Weight, t.Plain, t.VectorEnd, n);
        t.Output[s] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(b0, b1), t.Weight, t.Plain + n, t.VectorEnd, n);
        t.Output[2 * s] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(c0, c1), t.Weight, t.Plain + (2 * n), t.VectorEnd, n);
        t.Output[3 * s] = WideLeftover<WideFinitePrescaledHalfWeights>(WideLanes(d0, d1), t.Weight, t.Plain + (3 * n), t.VectorEnd, n);
    }
}
