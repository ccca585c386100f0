using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// The 64-byte (AVX-512) micro-kernels of <see cref="BatchedMatrixKernel"/>: the same tiles with 16-lane vectors, 32
/// weights per step, half the instructions per weight of the 32-byte loops (which matters for half-precision weights,
/// whose widening costs several integer operations per vector).
/// </summary>
/// <remarks>
/// Their one order: two 16-lane accumulators over the columns in steps of 32, added lane-wise and then across lanes by
/// <see cref="Vector512.Sum{T}(Vector512{T})"/>, then the leftover columns (fewer than 32) one fused multiply-add at a
/// time, then the bias. It differs from the 32-byte loops' order (so results differ from them in the last bits), but
/// is the same for every micro-kernel and batch size, so a call stays batch-invariant.
/// </remarks>
internal static unsafe partial class BatchedMatrixKernel
{
    private readonly partial struct Job
    {
        private void WideBlock(int first, int count)
        {
            if (format == WeightFormat.Float32 && batch >= 4)
            {
                SingleBlockTiled(first, count);
            }
            else if (format == WeightFormat.Float32)
            {
                BlockWide<WideSingleWeights>(first, count, x, null);
            }
            else if (format == WeightFormat.BFloat16)
            {
                BlockWide<WideBrainWeights>(first, count, ordered, null);
            }
            else if (scaled != null && facts.Finite)
            {
                FiniteBlockWide(first, count);
            }
            else if (scaled != null)
            {
                BlockWide<WidePrescaledHalfWeights>(first, count, scaled, ordered);
            }
            else
            {
                BlockWide<WideExactHalfWeights>(first, count, ordered, null);
            }
        }

        /// <summary>The tiling of <c>Block</c> with the 64-byte micro-kernels.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void BlockWide<TWeights>(int first, int count, float* xs, float* exact)
            where TWeights : struct, IWideWeights
        {
            long stride = (long)inputs * TWeights.ElementSize;
            int vectorEnd = inputs & ~31;
            int b = 0;
            for (; batch >= 4 && b + 4 <= batch; b += 4)
            {
                for (int o = first; o < first + count; o++)
                {
                    var tile = new Tile((byte*)weight + (o * stride), stride, xs + ((long)b * inputs), x + ((long)b * inputs), inputs, vectorEnd, y + ((long)b * outputs) + o, outputs);
                    if (WideOneWeightRowFourInputs<TWeights>(tile) && exact != null)
                    {
                        WideOneWeightRowFourInputs<WideExactHalfWeights>(tile.WithOrdered(exact + ((long)b * inputs)));
                    }
                }
            }

            for (int o = first; o < first + count; o += 4)
            {
                int rows = Math.Min(4, first + count - o);
                byte* w = (byte*)weight + (o * stride);
                for (int rest = b; rest < batch; rest++)
                {
                    var tile = new Tile(w, stride, xs + ((long)rest * inputs), x + ((long)rest * inputs), inputs, vectorEnd, y + ((long)rest * outputs) + o, outputs);
                    if (rows == 4 && batch >= 4)
                    {
                        if (WideFourWeightRowsOneInput<TWeights>(tile) && exact != null)
                        {
                            WideFourWeightRowsOneInput<WideExactHalfWeights>(tile.WithOrdered(exact + ((long)rest * inputs)));
                        }

                        continue;
                    }

                    for (int r = 0; r < rows; r++)
                    {
                        var single = tile.WithRow(w + (r * stride), tile.Output + r);
                        if (WideOneWeightRowOneInput<TWeights>(single) && exact != null)
                        {
                            WideOneWeightRowOneInput<WideExactHalfWeights>(single.WithOrdered(exact + ((long)rest * inputs)));
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool WideFourWeightRowsOneInput<TWeights>(Tile t)
        where TWeights : struct, IWideWeights
    {
        var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
        var b0 = Vector512<float>.Zero; var b1 = Vector512<float>.Zero;
        var c0 = Vector512<float>.Zero; var c1 = Vector512<float>.Zero;
        var d0 = Vector512<float>.Zero; var d1 = Vector512<float>.Zero;
        var unsignedMaximum = Vector512<ushort>.Zero;
        var signedMaximum = Vector512<short>.Zero;
        byte* w0 = t.Weight, w1 = w0 + t.Stride, w2 = w1 + t.Stride, w3 = w2 + t.Stride;
        for (int j = 0; j < t.VectorEnd; j += 32)
        {
            var x0 = Avx512F.LoadVector512(t.Ordered + j);
            var x1 = Avx512F.LoadVector512(t.Ordered + j + 16);
            long offset = (long)j * TWeights.ElementSize;
            PrefetchNextTile(w3 + t.Stride + offset, t.Stride, TWeights.ElementSize * 32);
            TWeights.Widen(w0 + offset, out var even, out var odd, ref unsignedMaximum, ref signedMaximum);
            a0 = Avx512F.FusedMultiplyAdd(even, x0, a0);
            a1 = Avx512F.FusedMultiplyAdd(odd, x1, a1);
            TWeights.Widen(w1 + offset, out even, out odd, ref unsignedMaximum, ref signedMaximum);
            b0 = Avx512F.FusedMultiplyAdd(even, x0, b0);
            b1 = Avx512F.FusedMultiplyAdd(odd, x1, b1);
            TWeights.Widen(w2 + offset, out even, out odd, ref unsignedMaximum, ref signedMaximum);
            c0 = Avx512F.FusedMultiplyAdd(even, x0, c0);
            c1 = Avx512F.FusedMultiplyAdd(odd, x1, c1);
            TWeights.Widen(w3 + offset, out even, out odd, ref unsignedMaximum, ref signedMaximum);
            d0 = Avx512F.FusedMultiplyAdd(even, x0, d0);
            d1 = Avx512F.FusedMultiplyAdd(odd, x1, d1);
        }

        bool special = TWeights.SawInfinityOrNaN(unsignedMaximum, signedMaximum);
        float sa = WideLanes(a0, a1), sb = WideLanes(b0, b1), sc = WideLanes(c0, c1), sd = WideLanes(d0, d1);
        t.Output[0] = WideLeftover<TWeights>(sa, w0, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[1] = WideLeftover<TWeights>(sb, w1, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[2] = WideLeftover<TWeights>(sc, w2, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[3] = WideLeftover<TWeights>(sd, w3, t.Plain, t.VectorEnd, t.Inputs);
        return special;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool WideOneWeightRowFourInputs<TWeights>(Tile t)
        where TWeights : struct, IWideWeights
    {
        var a0 = Vector512<float>.Zero; var a1 = Vector512<float>.Zero;
        var b0 = Vector512<float>.Zero; var b1 = Vector512<float>.Zero;
        var c0 = Vector512<float>.Zero; var c1 = Vector512<float>.Zero;
        var d0 = Vector512<float>.Zero; var d1 = Vector512<float>.Zero;
        var unsignedMaximum = Vector512<ushort>.Zero;
        var signedMaximum = Vector512<short>.Zero;
        float* xa = t.Ordered, xb = xa + t.Inputs, xc = xb + t.Inputs, xd = xc + t.Inputs;
        for (int j = 0; j < t.VectorEnd; j += 32)
        {
            TWeights.Widen(t.Weight + ((long)j * TWeights.ElementSize), out var even, out var odd, ref unsignedMaximum, ref signedMaximum);
            a0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(xa + j), a0);
            a1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(xa + j + 16), a1);
            b0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(xb + j), b0);
            b1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(xb + j + 16), b1);
            c0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(xc + j), c0);
            c1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(xc + j + 16), c1);
            d0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(xd + j), d0);
            d1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(xd + j + 16), d1);
        }

        bool special = TWeights.SawInfinityOrNaN(unsignedMaximum, signedMaximum);
        float sa = WideLanes(a0, a1), sb = WideLanes(b0, b1), sc = WideLanes(c0, c1), sd = WideLanes(d0, d1);
        int n = t.Inputs, s = t.OutputStride;
        t.Output[0] = WideLeftover<TWeights>(sa, t.Weight, t.Plain, t.VectorEnd, n);
        t.Output[s] = WideLeftover<TWeights>(sb, t.Weight, t.Plain + n, t.VectorEnd, n);
        t.Output[2 * s] = WideLeftover<TWeights>(sc, t.Weight, t.Plain + (2 * n), t.VectorEnd, n);
        t.Output[3 * s] = WideLeftover<TWeights>(sd, t.Weight, t.Plain + (3 * n), t.VectorEnd, n);
        return special;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool WideOneWeightRowOneInput<TWeights>(Tile t)
        where TWeights : struct, IWideWeights
    {
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        var unsignedMaximum = Vector512<ushort>.Zero;
        var signedMaximum = Vector512<short>.Zero;
        for (int j = 0; j < t.VectorEnd; j += 32)
        {
            byte* step = t.Weight + ((long)j * TWeights.ElementSize);
            MatrixVectorKernel.PrefetchAhead(step, 32 * TWeights.ElementSize);
            TWeights.Widen(step, out var even, out var odd, ref unsignedMaximum, ref signedMaximum);
            a0 = Avx512F.FusedMultiplyAdd(even, Avx512F.LoadVector512(t.Ordered + j), a0);
            a1 = Avx512F.FusedMultiplyAdd(odd, Avx512F.LoadVector512(t.Ordered + j + 16), a1);
        }

        bool special = TWeights.SawInfinityOrNaN(unsignedMaximum, signedMaximum);
        t.Output[0] = WideLeftover<TWeights>(WideLanes(a0, a1), t.Weight, t.Plain, t.VectorEnd, t.Inputs);
        return special;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float WideLanes(Vector512<float> first, Vector512<float> second) => Vector512.Sum(Avx512F.Add(first, second));

    /// <summary>A row's sum after its leftover columns (none when the columns are a multiple of 32, as in GPT-2's layers: no call then).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float WideLeftover<TWeights>(float sum, byte* row, float* plain, int j, int inputs)
        where TWeights : struct, IWideWeights =>
        j == inputs ? sum : WideLeftoverColumns<TWeights>(sum, row, plain, j, inputs);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float WideLeftoverColumns<TWeights>(float sum, byte* row, float* plain, int j, int inputs)
        where TWeights : struct, IWideWeights
    {
        for (; j < inputs; j++)
        {
            sum = MathF.FusedMultiplyAdd(TWeights.Element(row, j), plain[j], sum);
        }

        return sum;
    }

    /// <summary>How 32 weights (at <c>j</c>, in the order the matching copy of <c>X</c> holds) become two 16-lane float32 vectors.</summary>
    private interface IWideWeights
    {
        static abstract int ElementSize { get; }

        static abstract void Widen(byte* w, out Vector512<float> first, out Vector512<float> second, ref Vector512<ushort> unsignedMaximum, ref Vector512<short> signedMaximum);

        static abstract float Element(byte* row, int j);

        static abstract bool SawInfinityOrNaN(Vector512<ushort> unsignedMaximum, Vector512<short> signedMaximum);
    }

    private struct WideSingleWeights : IWideWeights
    {
        public static int ElementSize => sizeof(float);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector512<float> first, out Vector512<float> second, ref Vector512<ushort> unsignedMaximum, ref Vector512<short> signedMaximum)
        {
            first = Avx512F.LoadVector512((float*)w);
            second = Avx512F.LoadVector512((float*)w + 16);
        }

        public static float Element(byte* row, int j) => ((float*)row)[j];

        public static bool SawInfinityOrNaN(Vector512<ushort> unsignedMaximum, Vector512<short> signedMaximum) => false;
    }

    private struct WideBrainWeights : IWideWeights
    {
        public static int ElementSize => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector512<float> first, out Vector512<float> second, ref Vector512<ushort> unsignedMaximum, ref Vector512<short> signedMaximum)
        {
            var pairs = Avx512F.LoadVector512((int*)w);
            first = HalfWidening.BFloat16Low(pairs);
            second = HalfWidening.BFloat16High(pairs);
        }

        public static float Element(byte* row, int j) => HalfWidening.BFloat16(((ushort*)row)[j]);

        public static bool SawInfinityOrNaN(Vector512<ushort> unsignedMaximum, Vector512<short> signedMaximum) => false;
    }

    /// <summary>float16 against <c>X · 2^112</c>; tracks the raw bits so that an infinity or NaN is noticed.</summary>
    private struct WidePrescaledHalfWeights : IWideWeights
    {
        public static int ElementSize => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector512<float> first, out Vector512<float> second, ref Vector512<ushort> unsignedMaximum, ref Vector512<short> signedMaximum)
        {
            var pairs = Avx512F.LoadVector512((int*)w);
            unsignedMaximum = Avx512BW.Max(unsignedMaximum, pairs.AsUInt16());
            signedMaximum = Avx512BW.Max(signedMaximum, pairs.AsInt16());
            first = HalfWidening.Float16LowUnscaled(pairs);
            second = HalfWidening.Float16HighUnscaled(pairs);
        }

        public static float Element(byte* row, int j) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[j]);

        public static bool SawInfinityOrNaN(Vector512<ushort> unsignedMaximum, Vector512<short> signedMaximum) =>
            HalfWidening.HasInfinityOrNaN(unsignedMaximum, signedMaximum);
    }

    /// <summary>float16 against <c>X · 2^112</c> without the range check, for weights known to hold no infinity or NaN (<see cref="Float16WeightScan"/>).</summary>
    private struct WideFinitePrescaledHalfWeights : IWideWeights
    {
        public static int ElementSize => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector512<float> first, out Vector512<float> second, ref Vector512<ushort> unsignedMaximum, ref Vector512<short> signedMaximum)
        {
            var pairs = Avx512F.LoadVector512((int*)w);
            first = HalfWidening.Float16LowUnscaled(pairs);
            second = HalfWidening.Float16HighUnscaled(pairs);
        }

        public static float Element(byte* row, int j) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[j]);

        public static bool SawInfinityOrNaN(Vector512<ushort> unsignedMaximum, Vector512<short> signedMaximum) => false;
    }

    /// <summary>float16 widened exactly (infinities and NaNs included), in the same lane order as <see cref="WidePrescaledHalfWeights"/>.</summary>
    private struct WideExactHalfWeights : IWideWeights
    {
        public static int ElementSize => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector512<float> first, out Vector512<float> second, ref Vector512<ushort> unsignedMaximum, ref Vector512<short> signedMaximum)
        {
            var pairs = Avx512F.LoadVector512((int*)w);
            first = HalfWidening.Float16Rescale(HalfWidening.Float16LowUnscaled(pairs));
            second = HalfWidening.Float16Rescale(HalfWidening.Float16HighUnscaled(pairs));
        }

        public static float Element(byte* row, int j) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[j]);

        public static bool SawInfinityOrNaN(Vector512<ushort> unsignedMaximum, Vector512<short> signedMaximum) => false;
    }
}
