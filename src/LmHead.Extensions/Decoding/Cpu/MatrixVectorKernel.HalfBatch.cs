using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// A half-precision head against several hidden states at once (the scheduler's batched step): each weight row is read
/// from memory once for the whole batch and widened once for every four states, where the one-state path
/// (<see cref="Multiply"/>) reads the whole matrix again for every state.
/// </summary>
internal static unsafe partial class MatrixVectorKernel
{
    /// <summary>Weight rows (24 KiB of float16 at 768 columns) that every group of four states passes over while they sit in L1.</summary>
    private const int HalfRowsPerTile = 16;

    /// <summary>
    /// Projects <paramref name="batch"/> float32 hidden states (<c>[batch, columns]</c>) through a half-precision matrix
    /// without a bias (<c>[rows, columns]</c>) into float32 logits <c>[batch, rows]</c>. Every logit is bit for bit what
    /// <see cref="Multiply"/> gives for its hidden state alone with the output in the weight's format (the sum rounded
    /// to half precision by <see cref="HalfNarrowing"/>), widened back to float32: each (row, state) pair takes the
    /// one-state loop's multiply-adds in the one-state loop's order (<see cref="BFloat16Step"/>,
    /// <see cref="FiniteFloat16Step"/> and the same row ends). Returns <see langword="false"/>, writing nothing, wherever
    /// that one-state path would not take the 64-byte finite loops (no AVX-512, fewer than 32 columns, float16 weights
    /// not known finite, a hidden state too large for the <c>2^112</c> prescale): the caller then projects state by state.
    /// </summary>
    internal static bool TryMultiplyHalfBatch(nint weight, WeightFormat format, int rows, int columns, float* hidden, int batch, float* output, Float16WeightFacts facts)
    {
        bool float16 = format == WeightFormat.Float16;
        if (format == WeightFormat.Float32 || !IsAccelerated || !UsesWide(VectorWidth.Widest) || columns < 32 || batch < 1 || (float16 && !facts.Finite))
        {
            return false;
        }

        for (int b = 0; float16 && b < batch; b++)
        {
            if (!HalfWidening.CanPrescale(hidden + ((long)b * columns), columns))
            {
                return false;
            }
        }

        nuint bytes = (nuint)batch * (nuint)columns * sizeof(float);
        float* ordered = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        float* unscaled = float16 && facts.SubnormalChunks != null ? (float*)NativeMemory.AlignedAlloc(bytes, 64) : null;
        try
        {
            for (int b = 0; b < batch; b++)
            {
                long offset = (long)b * columns;
                HalfWidening.Reorder(hidden + offset, ordered + offset, columns, float16, 32);
                if (unscaled != null)
                {
                    HalfWidening.Reorder(hidden + offset, unscaled + offset, columns, prescale: false, 32);
                }
            }

            var job = new HalfBatchJob(weight, float16, rows, columns, hidden, ordered, unscaled, batch, output, facts);
            KernelParallel.Blocks((rows + RowsPerBlock - 1) / RowsPerBlock, job.Run);
        }
        finally
        {
            NativeMemory.AlignedFree(ordered);
            NativeMemory.AlignedFree(unscaled);
        }

        return true;
    }

    /// <summary>One batched call's operands; <see cref="Run"/> computes one block of rows for every state.</summary>
    private readonly struct HalfBatchJob(
        nint weight, bool float16, int rows, int columns, float* hidden, float* ordered, float* unscaled, int batch, float* output, Float16WeightFacts facts)
    {
        public void Run(int block)
        {
            int first = block * RowsPerBlock;
            int count = Math.Min(rows - first, RowsPerBlock);
            float* sums = (float*)NativeMemory.Alloc((nuint)count * (nuint)batch * sizeof(float));
            ushort* rounded = stackalloc ushort[count];
            try
            {
                // Tiles of rows small enough to stay in L1 while every group of four states passes over them (the states'
                // reordered copies would not fit beside a long run of rows).
                for (int tile = 0; tile < count; tile += HalfRowsPerTile)
                {
                    int tileEnd = Math.Min(count, tile + HalfRowsPerTile);
                    for (int b = 0; b < batch; b += 4)
                    {
                        ushort* w = (ushort*)weight + ((long)(first + tile) * columns);
                        for (int i = tile; i < tileEnd; i++, w += columns)
                        {
                            States(w, first + i, b, Math.Min(4, batch - b), sums + i, count);
                        }
                    }
                }

                for (int b = 0; b < batch; b++)
                {
                    HalfNarrowing.Narrow(sums + ((long)b * count), rounded, count, brain: !float16);
                    float* target = output + ((long)b * rows) + first;
                    for (int i = 0; i < count; i++)
                    {
                        target[i] = float16 ? (float)BitConverter.UInt16BitsToHalf(rounded[i]) : HalfWidening.BFloat16(rounded[i]);
                    }
                }
            }
            finally
            {
                NativeMemory.Free(sums);
            }
        }

        /// <summary>One weight row against states [<paramref name="b"/>, <paramref name="b"/> + <paramref name="states"/>): sums[s · <paramref name="stride"/>] for state s.</summary>
        private void States(ushort* w, long row, int b, int states, float* sums, int stride)
        {
            ulong* flags = float16 ? facts.Row(row) : null;
            long offset = (long)b * columns;
            if (states == 4)
            {
                if (float16)
                {
                    FiniteFloat16FourStates(w, hidden + offset, ordered + offset, unscaled == null ? null : unscaled + offset, columns, flags, sums + ((long)b * stride), stride);
                }
                else
                {
                    BFloat16FourStates(w, hidden + offset, ordered + offset, columns, sums + ((long)b * stride), stride);
                }

                return;
            }

            for (int s = b; s < b + states; s++, offset += columns)
            {
                sums[(long)s * stride] = float16
                    ? DotFiniteFloat16Wide(w, hidden + offset, ordered + offset, unscaled == null ? null : unscaled + offset, columns, flags)
                    : DotBFloat16Wide(w, hidden + offset, ordered + offset, columns);
            }
        }
    }

    /// <summary>One bfloat16 row against four consecutive states (<paramref name="columns"/> apart); their sums <paramref name="stride"/> apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BFloat16FourStates(ushort* w, float* h, float* ordered, int columns, float* sums, int stride)
    {
        float* o0 = ordered, o1 = o0 + columns, o2 = o1 + columns, o3 = o2 + columns;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
        int j = 0;
        for (; j <= columns - 64; j += 64)
        {
            PrefetchAhead(w + j, 128);
            var x0 = Avx512F.LoadVector512((int*)(w + j));
            var x1 = Avx512F.LoadVector512((int*)(w + j + 32));
            var l0 = HalfWidening.BFloat16Low(x0);
            var h0 = HalfWidening.BFloat16High(x0);
            var l1 = HalfWidening.BFloat16Low(x1);
            var h1 = HalfWidening.BFloat16High(x1);
            FourProducts(l0, h0, l1, h1, o0 + j, ref a0, ref a1, ref a2, ref a3);
            FourProducts(l0, h0, l1, h1, o1 + j, ref b0, ref b1, ref b2, ref b3);
            FourProducts(l0, h0, l1, h1, o2 + j, ref c0, ref c1, ref c2, ref c3);
            FourProducts(l0, h0, l1, h1, o3 + j, ref d0, ref d1, ref d2, ref d3);
        }

        sums[0] = FinishBFloat16Wide(w, h, o0, columns, j, a0, a1, a2, a3);
        sums[stride] = FinishBFloat16Wide(w, h + columns, o1, columns, j, b0, b1, b2, b3);
        sums[2L * stride] = FinishBFloat16Wide(w, h + (2L * columns), o2, columns, j, c0, c1, c2, c3);
        sums[3L * stride] = FinishBFloat16Wide(w, h + (3L * columns), o3, columns, j, d0, d1, d2, d3);
    }

    /// <summary>
    /// One finite float16 row against four consecutive states (<paramref name="columns"/> apart); their sums
    /// <paramref name="stride"/> apart. A step without a flagged chunk widens once for all four; a flagged step takes each
    /// state's <see cref="FiniteFloat16Step"/>, as the one-state loop does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FiniteFloat16FourStates(ushort* w, float* h, float* ordered, float* unscaled, int columns, ulong* flags, float* sums, int stride)
    {
        float* o0 = ordered, o1 = o0 + columns, o2 = o1 + columns, o3 = o2 + columns;
        float* u0 = unscaled, u1 = u0 == null ? null : u0 + columns, u2 = u0 == null ? null : u1 + columns, u3 = u0 == null ? null : u2 + columns;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
        int j = 0;
        for (int word = 0; j <= columns - 64; word++)
        {
            ulong f = flags == null ? 0 : flags[word];
            int end = Math.Min(columns & ~63, j + (64 * 32));
            for (; j < end; j += 64, f >>= 2)
            {
                PrefetchAhead(w + j, 128);
                if ((f & 3) == 0)
                {
                    var p0 = Avx512F.LoadVector512((int*)(w + j));
                    var p1 = Avx512F.LoadVector512((int*)(w + j + 32));
                    var l0 = HalfWidening.Float16LowUnscaled(p0);
                    var h0 = HalfWidening.Float16HighUnscaled(p0);
                    var l1 = HalfWidening.Float16LowUnscaled(p1);
                    var h1 = HalfWidening.Float16HighUnscaled(p1);
                    FourProducts(l0, h0, l1, h1, o0 + j, ref a0, ref a1, ref a2, ref a3);
                    FourProducts(l0, h0, l1, h1, o1 + j, ref b0, ref b1, ref b2, ref b3);
                    FourProducts(l0, h0, l1, h1, o2 + j, ref c0, ref c1, ref c2, ref c3);
                    FourProducts(l0, h0, l1, h1, o3 + j, ref d0, ref d1, ref d2, ref d3);
                    continue;
                }

                FlaggedStep(w + j, f, o0 + j, u0 + j, ref a0, ref a1, ref a2, ref a3);
                FlaggedStep(w + j, f, o1 + j, u1 + j, ref b0, ref b1, ref b2, ref b3);
                FlaggedStep(w + j, f, o2 + j, u2 + j, ref c0, ref c1, ref c2, ref c3);
                FlaggedStep(w + j, f, o3 + j, u3 + j, ref d0, ref d1, ref d2, ref d3);
            }
        }

        sums[0] = FinishFiniteFloat16Wide(w, h, o0, u0, columns, flags, j, a0, a1, a2, a3);
        sums[stride] = FinishFiniteFloat16Wide(w, h + columns, o1, u1, columns, flags, j, b0, b1, b2, b3);
        sums[2L * stride] = FinishFiniteFloat16Wide(w, h + (2L * columns), o2, u2, columns, flags, j, c0, c1, c2, c3);
        sums[3L * stride] = FinishFiniteFloat16Wide(w, h + (3L * columns), o3, u3, columns, flags, j, d0, d1, d2, d3);
    }

    /// <summary>One state's multiply-adds of an already widened step of 64 weights (the unflagged body of the one-state loops).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FourProducts(
        Vector512<float> l0, Vector512<float> h0, Vector512<float> l1, Vector512<float> h1, float* ordered,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
    {
        a0 = Avx512F.FusedMultiplyAdd(l0, Avx512F.LoadVector512(ordered), a0);
        a1 = Avx512F.FusedMultiplyAdd(h0, Avx512F.LoadVector512(ordered + 16), a1);
        a2 = Avx512F.FusedMultiplyAdd(l1, Avx512F.LoadVector512(ordered + 32), a2);
        a3 = Avx512F.FusedMultiplyAdd(h1, Avx512F.LoadVector512(ordered + 48), a3);
    }

    /// <summary><see cref="FiniteFloat16Step"/> for one state of a step with a flagged chunk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FlaggedStep(ushort* w, ulong f, float* ordered, float* unscaled, ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3) =>
        FiniteFloat16Step(
            w, f, Avx512F.LoadVector512(ordered), Avx512F.LoadVector512(ordered + 16), Avx512F.LoadVector512(ordered + 32), Avx512F.LoadVector512(ordered + 48),
            ordered, unscaled, ref a0, ref a1, ref a2, ref a3);
}
