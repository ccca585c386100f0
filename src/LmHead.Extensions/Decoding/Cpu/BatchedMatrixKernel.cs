using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// <c>Y[b, o] = Σᵢ W[o, i] · X[b, i] + bias[o]</c> for a few float32 rows <c>X [B, in]</c> and a row-major weight
/// <c>W [out, in]</c> in float32, bfloat16 or float16 (widened in registers, as in <see cref="MatrixVectorKernel"/>):
/// the linear layers of a decode step, where every sequence of a batch contributes one row. Blocks of output rows run in
/// parallel; within a block each weight row is read from memory once and used for every row of <c>X</c> (four at a time
/// from registers, the rest from cache), so a step's weight traffic does not grow with B. Where the runtime accelerates
/// <see cref="Vector512"/> the same tiles run with 16-lane vectors (BatchedMatrixKernel.Wide.cs).
/// </summary>
/// <remarks>
/// Batch-invariant by construction: every <c>Y[b, o]</c> is summed in one fixed order whatever else shares the call
/// (with 8-lane vectors: two accumulators over the columns in steps of 16, added lane-wise and then across lanes by
/// <see cref="Vector256.Sum{T}(Vector256{T})"/>, then the leftover columns one fused multiply-add at a time, then the
/// bias), so a sequence's result is bit-identical alone or beside others. float16 weights are widened 2^112 times too
/// small against a copy of <c>X · 2^112</c> (the same products, see <see cref="HalfWidening"/>); a row of <c>X</c> too
/// large for that, or weights holding an infinity or NaN, take exact widening, which gives the same sums for finite values.
/// </remarks>
internal static unsafe partial class BatchedMatrixKernel
{
    /// <summary>The fewest output rows per parallel work item (a multiple of every tile's rows).</summary>
    private const int MinimumRowsPerBlock = 32;

    /// <summary>Computes <c>Y = X · Wᵀ + bias</c>.</summary>
    /// <param name="weight">The address of <c>W</c>, <paramref name="outputs"/> × <paramref name="inputs"/> elements of <paramref name="format"/>.</param>
    /// <param name="format">The element type of <c>W</c> and of <paramref name="bias"/>.</param>
    /// <param name="outputs">Rows of <c>W</c>.</param>
    /// <param name="inputs">Columns of <c>W</c> and of <c>X</c>.</param>
    /// <param name="x">The address of <c>X</c>, <paramref name="batch"/> × <paramref name="inputs"/> float32 values.</param>
    /// <param name="batch">Rows of <c>X</c>.</param>
    /// <param name="bias">The address of <paramref name="outputs"/> values of <paramref name="format"/>, or zero.</param>
    /// <param name="y">The address of <c>Y</c>, <paramref name="batch"/> × <paramref name="outputs"/> float32 values.</param>
    /// <param name="width">The widest vectors to use: the order of the sums depends on it (never on the batch).</param>
    /// <param name="parallel">Whether to split the output rows over all cores.</param>
    /// <param name="facts">What a scan of float16 weights found (<see cref="Float16WeightScan"/>): when they are known to hold
    /// no infinity or NaN the widening skips its range check, and flagged chunks are widened without subnormals; the sums
    /// are the same.</param>
    public static void Multiply(
        nint weight, WeightFormat format, int outputs, int inputs, float* x, int batch, nint bias, float* y,
        MatrixVectorKernel.VectorWidth width = MatrixVectorKernel.VectorWidth.Widest, bool parallel = true, Float16WeightFacts facts = default)
    {
        float* scaled = null, ordered = null, lifted = null;
        bool wide = MatrixVectorKernel.UsesWide(width);
        int group = wide ? 32 : 16;
        try
        {
            if (format != WeightFormat.Float32 && MatrixVectorKernel.IsAccelerated && inputs >= 16)
            {
                ordered = Reordered(x, batch, inputs, prescale: false, group);
                if (format == WeightFormat.Float16 && HalfWidening.CanPrescale(x, batch * inputs))
                {
                    scaled = Reordered(x, batch, inputs, prescale: true, group);
                    if (wide && batch < 4 && facts.Finite && facts.HasCopies && Float16WeightScan.CopiesEnabled)
                    {
                        lifted = HalfWidening.LiftedForCopies(scaled, batch * inputs);
                    }
                }
            }

            int[] starts = BlockStarts(outputs, batch);
            var job = new Job(weight, format, outputs, inputs, x, ordered, scaled, lifted, batch, bias, y, wide, facts, starts);
            KernelParallel.Blocks(starts.Length - 1, job.Run, parallel);
        }
        finally
        {
            NativeMemory.AlignedFree(ordered);
            NativeMemory.AlignedFree(scaled);
            NativeMemory.AlignedFree(lifted);
        }
    }

    /// <summary>
    /// Where each parallel work item of a call with <paramref name="outputs"/> rows starts, and the end as a last entry.
    /// With fewer than four rows of <c>X</c> (a decode step of one sequence) the call reads each weight once, so items
    /// shrink from a <c>1 / (2 · threads)</c> share of the rows still to do down to <see cref="MinimumRowsPerBlock"/>: the
    /// first are long runs of consecutive rows that the hardware prefetchers follow (items of 32 rows, 48 KB of float16
    /// weights for GPT-2's 768 columns, made float16 and bfloat16 steps of a 2-core machine about 6 % slower:
    /// docs/benchmarks.md, run AA), the last are short, so the threads finish together. With four rows or more every
    /// item's weights are read once per group of four rows and must stay in cache: items of
    /// <see cref="MinimumRowsPerBlock"/>. Which thread sums a row, and in which item, never changes its value.
    /// </summary>
    private static int[] BlockStarts(int outputs, int batch) => batch >= 4
        ? FixedPlans.GetOrAdd(outputs, static rows => Plan(rows, guided: false))
        : GuidedPlans.GetOrAdd(outputs, static rows => Plan(rows, guided: true));

    private static int[] Plan(int rows, bool guided)
    {
        var starts = new List<int> { 0 };
        int share = 2 * KernelParallel.Threads;
        for (int done = 0; done < rows;)
        {
            int size = guided ? (rows - done + share - 1) / share : MinimumRowsPerBlock;
            size = Math.Max(MinimumRowsPerBlock, (size + MinimumRowsPerBlock - 1) / MinimumRowsPerBlock * MinimumRowsPerBlock);
            done = Math.Min(rows, done + size);
            starts.Add(done);
        }

        return [.. starts];
    }

    /// <summary>The plans per row count (a model has a handful of layer shapes).</summary>
    private static readonly ConcurrentDictionary<int, int[]> GuidedPlans = new(), FixedPlans = new();

    private static float* Reordered(float* x, int batch, int inputs, bool prescale, int group)
    {
        var copy = (float*)NativeMemory.AlignedAlloc((nuint)batch * (nuint)inputs * sizeof(float), 64);
        for (int b = 0; b < batch; b++)
        {
            HalfWidening.Reorder(x + ((long)b * inputs), copy + ((long)b * inputs), inputs, prescale, group);
        }

        return copy;
    }

    /// <summary>One call's operands; <see cref="Run"/> computes one block of output rows for every row of <c>X</c>.</summary>
    private readonly partial struct Job(
        nint weight, WeightFormat format, int outputs, int inputs, float* x, float* ordered, float* scaled, float* lifted, int batch, nint bias, float* y, bool wide, Float16WeightFacts facts, int[] starts)
    {
        public void Run(int block)
        {
            int first = starts[block];
            int count = starts[block + 1] - first;
            Compute(first, count);
            if (bias != 0)
            {
                AddBias(first, count);
            }
        }

        /// <summary>The block's multiply-adds, without the bias.</summary>
        private void Compute(int first, int count)
        {
            if (!MatrixVectorKernel.IsAccelerated || (format != WeightFormat.Float32 && ordered == null))
            {
                ScalarBlock(first, count);
            }
            else if (wide)
            {
                WideBlock(first, count);
            }
            else if (format == WeightFormat.Float32)
            {
                Block<SingleWeights>(first, count, x, null);
            }
            else if (format == WeightFormat.BFloat16)
            {
                Block<BrainWeights>(first, count, ordered, null);
            }
            else if (scaled != null && facts.Finite)
            {
                Block<FinitePrescaledHalfWeights>(first, count, scaled, null);
            }
            else if (scaled != null)
            {
                Block<PrescaledHalfWeights>(first, count, scaled, ordered);
            }
            else
            {
                Block<ExactHalfWeights>(first, count, ordered, null);
            }
        }

        /// <summary>
        /// Adds the bias to the block's outputs of every row, the last operation of every element's one order. float32
        /// biases in 8-lane vectors (the same single rounding per element as the scalar add): element by element with a
        /// format switch it cost about as much as a small layer's multiply-adds at B = 16.
        /// </summary>
        private void AddBias(int first, int count)
        {
            for (int b = 0; b < batch; b++)
            {
                float* row = y + ((long)b * outputs);
                int o = first;
                if (format == WeightFormat.Float32 && MatrixVectorKernel.IsAccelerated)
                {
                    for (; o + 8 <= first + count; o += 8)
                    {
                        Avx.Store(row + o, Avx.Add(Avx.LoadVector256(row + o), Avx.LoadVector256((float*)bias + o)));
                    }
                }
                else if (format != WeightFormat.Float32 && Avx512F.IsSupported)
                {
                    // Widened exactly, 16 at a time: the same values as Element's. A scalar conversion per output put
                    // Job.Run (this loop, mostly) at 2.3 % of a float16 decode step's perf samples; 0.95 % after (run AB).
                    bool brain = format == WeightFormat.BFloat16;
                    for (; o + 16 <= first + count; o += 16)
                    {
                        ushort* source = (ushort*)bias + o;
                        var widened = brain ? HalfWidening.BFloat16Wide(source) : HalfWidening.Float16Wide(source);
                        Avx512F.Store(row + o, Avx512F.Add(Avx512F.LoadVector512(row + o), widened));
                    }
                }

                for (; o < first + count; o++)
                {
                    row[o] += Element((byte*)bias, o);
                }
            }
        }

        /// <summary>
        /// Four weight rows at a time: with four or more rows of <c>X</c>, one weight row against four of them; for the
        /// rest, four weight rows (from cache by now) against one. A float16 group that meets an infinity or NaN is redone
        /// with exact widening against <paramref name="exact"/>.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Block<TWeights>(int first, int count, float* xs, float* exact)
            where TWeights : struct, IWeights
        {
            int elementSize = TWeights.ElementSize;
            long stride = (long)inputs * elementSize;
            int vectorEnd = inputs & ~15;

            // Rows of X four at a time against every weight row of the block: the four rows stay in L1 while the block's
            // weight rows stream past (from memory for the first four, from L2 after), which keeps long prompt chunks from
            // re-reading all of X from L2 for every weight row.
            int b = 0;
            for (; batch >= 4 && b + 4 <= batch; b += 4)
            {
                for (int o = first; o < first + count; o++)
                {
                    var tile = new Tile((byte*)weight + (o * stride), stride, xs + ((long)b * inputs), x + ((long)b * inputs), inputs, vectorEnd, y + ((long)b * outputs) + o, outputs);
                    if (OneWeightRowFourInputs<TWeights>(tile) && exact != null)
                    {
                        OneWeightRowFourInputs<ExactHalfWeights>(tile.WithOrdered(exact + ((long)b * inputs)));
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
                    if (rows == 4)
                    {
                        if (FourWeightRowsOneInput<TWeights>(tile) && exact != null)
                        {
                            FourWeightRowsOneInput<ExactHalfWeights>(tile.WithOrdered(exact + ((long)rest * inputs)));
                        }

                        continue;
                    }

                    for (int r = 0; r < rows; r++)
                    {
                        var single = tile.WithRow(w + (r * stride), tile.Output + r);
                        if (OneWeightRowOneInput<TWeights>(single) && exact != null)
                        {
                            OneWeightRowOneInput<ExactHalfWeights>(single.WithOrdered(exact + ((long)rest * inputs)));
                        }
                    }
                }
            }
        }

        /// <summary>The code path without AVX2 (or with fewer than 16 columns): the same fixed order per element, in scalar code.</summary>
        private void ScalarBlock(int first, int count)
        {
            int elementSize = format == WeightFormat.Float32 ? sizeof(float) : sizeof(ushort);
            for (int b = 0; b < batch; b++)
            {
                float* input = x + ((long)b * inputs);
                for (int o = first; o < first + count; o++)
                {
                    byte* row = (byte*)weight + ((long)o * inputs * elementSize);
                    float sum = 0;
                    for (int j = 0; j < inputs; j++)
                    {
                        sum = MathF.FusedMultiplyAdd(Element(row, j), input[j], sum);
                    }

                    y[((long)b * outputs) + o] = sum;
                }
            }
        }

        private float Element(byte* vector, int i) => format switch
        {
            WeightFormat.Float32 => ((float*)vector)[i],
            WeightFormat.BFloat16 => HalfWidening.BFloat16(((ushort*)vector)[i]),
            _ => (float)BitConverter.UInt16BitsToHalf(((ushort*)vector)[i]),
        };
    }

    /// <summary>
    /// The operands of one micro-kernel call: weight rows from <see cref="Weight"/> (<see cref="Stride"/> bytes apart), rows
    /// of <c>X</c> from <see cref="Ordered"/> (in the weights' widening order) and <see cref="Plain"/> (as given, for the
    /// leftover columns), <see cref="Inputs"/> apart; results to <see cref="Output"/>, successive rows of <c>X</c>
    /// <see cref="OutputStride"/> apart.
    /// </summary>
    private readonly struct Tile(byte* weight, long stride, float* ordered, float* plain, int inputs, int vectorEnd, float* output, int outputStride)
    {
        public byte* Weight => weight;

        public long Stride => stride;

        public float* Ordered => ordered;

        public float* Plain => plain;

        public int Inputs => inputs;

        public int VectorEnd => vectorEnd;

        public float* Output => output;

        public int OutputStride => outputStride;

        /// <summary>The same tile against another copy of <c>X</c>.</summary>
        public Tile WithOrdered(float* other) => new(weight, stride, other, plain, inputs, vectorEnd, output, outputStride);

        /// <summary>The same rows of <c>X</c> against another weight row and output.</summary>
        public Tile WithRow(byte* otherWeight, float* otherOutput) => new(otherWeight, stride, ordered, plain, inputs, vectorEnd, otherOutput, outputStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool FourWeightRowsOneInput<TWeights>(Tile t)
        where TWeights : struct, IWeights
    {
        var a0 = Vector256<float>.Zero; var a1 = Vector256<float>.Zero;
        var b0 = Vector256<float>.Zero; var b1 = Vector256<float>.Zero;
        var c0 = Vector256<float>.Zero; var c1 = Vector256<float>.Zero;
        var d0 = Vector256<float>.Zero; var d1 = Vector256<float>.Zero;
        var unsignedMaximum = Vector256<ushort>.Zero;
        var signedMaximum = Vector256<short>.Zero;
        byte* w0 = t.Weight, w1 = w0 + t.Stride, w2 = w1 + t.Stride, w3 = w2 + t.Stride;
        for (int j = 0; j < t.VectorEnd; j += 16)
        {
            var x0 = Avx.LoadVector256(t.Ordered + j);
            var x1 = Avx.LoadVector256(t.Ordered + j + 8);
            long offset = (long)j * TWeights.ElementSize;
            PrefetchNextTile(w3 + t.Stride + offset, t.Stride, TWeights.ElementSize * 16);
            TWeights.Widen(w0 + offset, out var even, out var odd, ref unsignedMaximum, ref signedMaximum);
            a0 = Fma.MultiplyAdd(even, x0, a0);
            a1 = Fma.MultiplyAdd(odd, x1, a1);
            TWeights.Widen(w1 + offset, out even, out odd, ref unsignedMaximum, ref signedMaximum);
            b0 = Fma.MultiplyAdd(even, x0, b0);
            b1 = Fma.MultiplyAdd(odd, x1, b1);
            TWeights.Widen(w2 + offset, out even, out odd, ref unsignedMaximum, ref signedMaximum);
            c0 = Fma.MultiplyAdd(even, x0, c0);
            c1 = Fma.MultiplyAdd(odd, x1, c1);
            TWeights.Widen(w3 + offset, out even, out odd, ref unsignedMaximum, ref signedMaximum);
            d0 = Fma.MultiplyAdd(even, x0, d0);
            d1 = Fma.MultiplyAdd(odd, x1, d1);
        }

        // Every vector is reduced before the leftover columns, whose float16 conversion is a call (which would make the
        // register allocator keep the accumulators on the stack through the whole loop).
        bool special = TWeights.SawInfinityOrNaN(unsignedMaximum, signedMaximum);
        float sa = Lanes(a0, a1), sb = Lanes(b0, b1), sc = Lanes(c0, c1), sd = Lanes(d0, d1);
        t.Output[0] = Leftover<TWeights>(sa, w0, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[1] = Leftover<TWeights>(sb, w1, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[2] = Leftover<TWeights>(sc, w2, t.Plain, t.VectorEnd, t.Inputs);
        t.Output[3] = Leftover<TWeights>(sd, w3, t.Plain, t.VectorEnd, t.Inputs);
        return special;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool OneWeightRowFourInputs<TWeights>(Tile t)
        where TWeights : struct, IWeights
    {
        var a0 = Vector256<float>.Zero; var a1 = Vector256<float>.Zero;
        var b0 = Vector256<float>.Zero; var b1 = Vector256<float>.Zero;
        var c0 = Vector256<float>.Zero; var c1 = Vector256<float>.Zero;
        var d0 = Vector256<float>.Zero; var d1 = Vector256<float>.Zero;
        var unsignedMaximum = Vector256<ushort>.Zero;
        var signedMaximum = Vector256<short>.Zero;
        float* xa = t.Ordered, xb = xa + t.Inputs, xc = xb + t.Inputs, xd = xc + t.Inputs;
        for (int j = 0; j < t.VectorEnd; j += 16)
        {
            TWeights.Widen(t.Weight + ((long)j * TWeights.ElementSize), out var even, out var odd, ref unsignedMaximum, ref signedMaximum);
            a0 = Fma.MultiplyAdd(even, Avx.LoadVector256(xa + j), a0);
            a1 = Fma.MultiplyAdd(odd, Avx.LoadVector256(xa + j + 8), a1);
            b0 = Fma.MultiplyAdd(even, Avx.LoadVector256(xb + j), b0);
            b1 = Fma.MultiplyAdd(odd, Avx.LoadVector256(xb + j + 8), b1);
            c0 = Fma.MultiplyAdd(even, Avx.LoadVector256(xc + j), c0);
            c1 = Fma.MultiplyAdd(odd, Avx.LoadVector256(xc + j + 8), c1);
            d0 = Fma.MultiplyAdd(even, Avx.LoadVector256(xd + j), d0);
            d1 = Fma.MultiplyAdd(odd, Avx.LoadVector256(xd + j + 8), d1);
        }

        bool special = TWeights.SawInfinityOrNaN(unsignedMaximum, signedMaximum);
        float sa = Lanes(a0, a1), sb = Lanes(b0, b1), sc = Lanes(c0, c1), sd = Lanes(d0, d1);
        int n = t.Inputs, s = t.OutputStride;
        t.Output[0] = Leftover<TWeights>(sa, t.Weight, t.Plain, t.VectorEnd, n);
        t.Output[s] = Leftover<TWeights>(sb, t.Weight, t.Plain + n, t.VectorEnd, n);
        t.Output[2 * s] = Leftover<TWeights>(sc, t.Weight, t.Plain + (2 * n), t.VectorEnd, n);
        t.Output[3 * s] = Leftover<TWeights>(sd, t.Weight, t.Plain + (3 * n), t.VectorEnd, n);
        return special;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool OneWeightRowOneInput<TWeights>(Tile t)
        where TWeights : struct, IWeights
    {
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        var unsignedMaximum = Vector256<ushort>.Zero;
        var signedMaximum = Vector256<short>.Zero;
        for (int j = 0; j < t.VectorEnd; j += 16)
        {
            TWeights.Widen(t.Weight + ((long)j * TWeights.ElementSize), out var even, out var odd, ref unsignedMaximum, ref signedMaximum);
            a0 = Fma.MultiplyAdd(even, Avx.LoadVector256(t.Ordered + j), a0);
            a1 = Fma.MultiplyAdd(odd, Avx.LoadVector256(t.Ordered + j + 8), a1);
        }

        bool special = TWeights.SawInfinityOrNaN(unsignedMaximum, signedMaximum);
        t.Output[0] = Leftover<TWeights>(Lanes(a0, a1), t.Weight, t.Plain, t.VectorEnd, t.Inputs);
        return special;
    }

    /// <summary>
    /// Asks for the cache lines that the next tile of four weight rows reads at this step: four rows read side by side
    /// are four short streams (one row is 1.5-9 KB), which the hardware prefetchers do not pick up in time, so without
    /// this one core reads half-precision weights at about half the speed it reaches on one long stream (measured in
    /// docs/benchmarks.md). Prefetches past the matrix's end are harmless (they never fault).
    /// </summary>
    /// <param name="next">The next tile's first row at this step's column.</param>
    /// <param name="stride">Bytes between rows.</param>
    /// <param name="bytes">Bytes of one row this step reads (one or two cache lines).</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchNextTile(byte* next, long stride, int bytes)
    {
        for (int line = 0; line < bytes; line += 64)
        {
            Sse.Prefetch0(next + line);
            Sse.Prefetch0(next + stride + line);
            Sse.Prefetch0(next + (2 * stride) + line);
            Sse.Prefetch0(next + (3 * stride) + line);
        }
    }

    /// <summary>The one order every element ends in, part 1: the two accumulators lane by lane, then across the lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Lanes(Vector256<float> first, Vector256<float> second) => Vector256.Sum(Avx.Add(first, second));

    /// <summary>The one order every element ends in, part 2: the leftover columns in order.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Leftover<TWeights>(float sum, byte* row, float* plain, int j, int inputs)
        where TWeights : struct, IWeights
    {
        for (; j < inputs; j++)
        {
            sum = MathF.FusedMultiplyAdd(TWeights.Element(row, j), plain[j], sum);
        }

        return sum;
    }

    /// <summary>How 16 weights (at <c>j</c>, in the order the matching copy of <c>X</c> holds) become two float32 vectors.</summary>
    private interface IWeights
    {
        static abstract int ElementSize { get; }

        static abstract void Widen(byte* w, out Vector256<float> first, out Vector256<float> second, ref Vector256<ushort> unsignedMaximum, ref Vector256<short> signedMaximum);

        static abstract float Element(byte* row, int j);

        static abstract bool SawInfinityOrNaN(Vector256<ushort> unsignedMaximum, Vector256<short> signedMaximum);
    }

    private struct SingleWeights : IWeights
    {
        public static int ElementSize => sizeof(float);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector256<float> first, out Vector256<float> second, ref Vector256<ushort> unsignedMaximum, ref Vector256<short> signedMaximum)
        {
            first = Avx.LoadVector256((float*)w);
            second = Avx.LoadVector256((float*)w + 8);
        }

        public static float Element(byte* row, int j) => ((float*)row)[j];

        public static bool SawInfinityOrNaN(Vector256<ushort> unsignedMaximum, Vector256<short> signedMaximum) => false;
    }

    private struct BrainWeights : IWeights
    {
        public static int ElementSize => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector256<float> first, out Vector256<float> second, ref Vector256<ushort> unsignedMaximum, ref Vector256<short> signedMaximum)
        {
            var pairs = Avx.LoadVector256((int*)w);
            first = HalfWidening.BFloat16Low(pairs);
            second = HalfWidening.BFloat16High(pairs);
        }

        public static float Element(byte* row, int j) => HalfWidening.BFloat16(((ushort*)row)[j]);

        public static bool SawInfinityOrNaN(Vector256<ushort> unsignedMaximum, Vector256<short> signedMaximum) => false;
    }

    /// <summary>float16 against <c>X · 2^112</c>; tracks the raw bits so that an infinity or NaN is noticed.</summary>
    private struct PrescaledHalfWeights : IWeights
    {
        public static int ElementSize => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector256<float> first, out Vector256<float> second, ref Vector256<ushort> unsignedMaximum, ref Vector256<short> signedMaximum)
        {
            var pairs = Avx.LoadVector256((int*)w);
            unsignedMaximum = Avx2.Max(unsignedMaximum, pairs.AsUInt16());
            signedMaximum = Avx2.Max(signedMaximum, pairs.AsInt16());
            first = HalfWidening.Float16LowUnscaled(pairs);
            second = HalfWidening.Float16HighUnscaled(pairs);
        }

        public static float Element(byte* row, int j) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[j]);

        public static bool SawInfinityOrNaN(Vector256<ushort> unsignedMaximum, Vector256<short> signedMaximum) =>
            HalfWidening.HasInfinityOrNaN(unsignedMaximum, signedMaximum);
    }

    /// <summary>
    /// float16 against <c>X · 2^112</c> without the range check, for weights known to hold no infinity or NaN
    /// (<see cref="Float16WeightScan"/>): the same sums as <see cref="PrescaledHalfWeights"/>, two operations fewer per load.
    /// </summary>
    private struct FinitePrescaledHalfWeights : IWeights
    {
        public static int ElementSize => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector256<float> first, out Vector256<float> second, ref Vector256<ushort> unsignedMaximum, ref Vector256<short> signedMaximum)
        {
            var pairs = Avx.LoadVector256((int*)w);
            first = HalfWidening.Float16LowUnscaled(pairs);
            second = HalfWidening.Float16HighUnscaled(pairs);
        }

        public static float Element(byte* row, int j) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[j]);

        public static bool SawInfinityOrNaN(Vector256<ushort> unsignedMaximum, Vector256<short> signedMaximum) => false;
    }

    /// <summary>float16 widened exactly (infinities and NaNs included), in the same lane order as <see cref="PrescaledHalfWeights"/>.</summary>
    private struct ExactHalfWeights : IWeights
    {
        public static int ElementSize => sizeof(ushort);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Widen(byte* w, out Vector256<float> first, out Vector256<float> second, ref Vector256<ushort> unsignedMaximum, ref Vector256<short> signedMaximum)
        {
            var pairs = Avx.LoadVector256((int*)w);
            first = Exact(HalfWidening.Float16LowUnscaled(pairs));
            second = Exact(HalfWidening.Float16HighUnscaled(pairs));
        }

        public static float Element(byte* row, int j) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[j]);

        public static bool SawInfinityOrNaN(Vector256<ushort> unsignedMaximum, Vector256<short> signedMaximum) => false;

        /// <summary>Rescales by 2^112 and turns exponent 31 (infinity, NaN) into float32's exponent 255.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> Exact(Vector256<float> unscaled)
        {
            var value = Avx.Multiply(unscaled, Vector256.Create(0x77800000u).AsSingle());
            var exponent = Avx2.And(unscaled.AsInt32(), Vector256.Create(0x0F800000));
            var special = Avx2.CompareEqual(exponent, Vector256.Create(0x0F800000));
            return Avx.Or(value, Avx2.And(special, Vector256.Create(0x7F800000)).AsSingle());
        }
    }
}
