using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// <c>y = W · h (+ b)</c> for a row-major <c>[V, d]</c> weight matrix in float32, bfloat16 or float16, with float32
/// accumulation. The work is a single read of the matrix, so its speed is the memory bandwidth: each thread reads its
/// block of rows strictly in address order (one row at a time, four 8-wide accumulators), which the hardware
/// prefetchers follow; blocks of rows run in parallel on all cores. Half-precision weights halve the bytes read and are
/// widened in registers with a few integer operations (<see cref="HalfWidening"/>). Where the runtime accelerates
/// <see cref="Vector512"/> the half-precision loops use 16-lane vectors (<see cref="IsWideAccelerated"/>), which halves
/// the widening instructions per weight; elsewhere, and for float32 rows, 8-lane ones.
/// </summary>
internal static unsafe partial class MatrixVectorKernel
{
    /// <summary>Rows per parallel work item: large enough to amortise scheduling, small enough to balance two cores.</summary>
    private const int RowsPerBlock = 1024;

    /// <summary>The element types the kernel reads and writes.</summary>
    public enum WeightFormat
    {
        /// <summary>IEEE float32.</summary>
        Float32,

        /// <summary>bfloat16: the upper 16 bits of a float32.</summary>
        BFloat16,

        /// <summary>IEEE float16.</summary>
        Float16,
    }

    /// <summary>The widest vectors a call may use.</summary>
    public enum VectorWidth
    {
        /// <summary>64-byte vectors (AVX-512 F and BW) where the runtime accelerates <see cref="Vector512"/>, else 32-byte ones.</summary>
        Widest,

        /// <summary>32-byte vectors (AVX2 and FMA) even where AVX-512 is available: the path of other CPUs, kept for tests and comparisons.</summary>
        Vector256,
    }

    /// <summary>Whether this CPU runs the vectorised loops (AVX2 and FMA); elsewhere the kernel is plain scalar code.</summary>
    public static bool IsAccelerated => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Whether this CPU runs the 64-byte loops: AVX-512 F and BW, and the runtime treats <see cref="Vector512"/> as
    /// accelerated (it does not on CPUs whose clock drops under 512-bit code).
    /// </summary>
    public static bool IsWideAccelerated => IsAccelerated && Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512BW.IsSupported;

    /// <summary>Whether the float16 loops keep running maxima of the raw bits to notice an infinity or NaN.</summary>
    internal interface IRangeCheck
    {
        /// <summary>Whether to check.</summary>
        static abstract bool Checks { get; }
    }

    /// <summary>Weights that may hold infinities or NaNs: check.</summary>
    internal struct RangeChecked : IRangeCheck
    {
        /// <inheritdoc/>
        public static bool Checks => true;
    }

    /// <summary>Weights known to hold none (<see cref="Float16WeightScan"/>): skip the check.</summary>
    internal struct RangeUnchecked : IRangeCheck
    {
        /// <inheritdoc/>
        public static bool Checks => false;
    }

    /// <summary>Whether a call with <paramref name="width"/> runs the 64-byte loops.</summary>
    internal static bool UsesWide(VectorWidth width) => width == VectorWidth.Widest && IsWideAccelerated;

    /// <summary>Computes <c>y[i] = Σⱼ W[i, j] · h[j] (+ bias[i])</c> for every row.</summary>
    /// <param name="weight">The address of <c>W</c>, row-major, <paramref name="rows"/> × <paramref name="columns"/> elements of <paramref name="format"/>.</param>
    /// <param name="format">The element type of <c>W</c>.</param>
    /// <param name="rows">V.</param>
    /// <param name="columns">d.</param>
    /// <param name="hidden">The address of <c>h</c>, <paramref name="columns"/> float32 values.</param>
    /// <param name="bias">The address of a bias of <paramref name="rows"/> values of <paramref name="vectorFormat"/>, or zero.</param>
    /// <param name="output">The address of <c>y</c>, <paramref name="rows"/> values of <paramref name="vectorFormat"/>.</param>
    /// <param name="vectorFormat">The element type of the bias and the output: float32, or the weight's format
    /// (the float32 sum is then rounded once, to nearest even).</param>
    /// <param name="parallel">Whether to split the rows over all cores.</param>
    /// <param name="width">The widest vectors to use for half-precision rows (the default, the widest the CPU accelerates);
    /// float32 rows always sum with 8-lane vectors.</param>
    /// <param name="facts">What a scan of float16 weights found (<see cref="Float16WeightScan"/>): when they are known to hold
    /// no infinity or NaN the widening skips its range check, and flagged chunks are widened without subnormals; the sums
    /// are the same.</param>
    public static void Multiply(
        nint weight, WeightFormat format, int rows, int columns, nint hidden, nint bias, nint output, WeightFormat vectorFormat = WeightFormat.Float32, bool parallel = true,
        VectorWidth width = VectorWidth.Widest, Float16WeightFacts facts = default)
    {
        // float32 rows keep the 8-lane order whatever the CPU: the scheduler's batched head (BatchedHeadProjection) sums
        // float32 rows in exactly this order so that batching changes no logit, and a float32 row is limited by memory, not
        // by instructions (the 16-lane loop measured 0.95-1.14x in docs/benchmarks.md).
        bool wide = format != WeightFormat.Float32 && UsesWide(width);
        // Half-precision rows are summed against a copy of h in the order in which a 32-byte load of 16 weights is
        // widened (HalfWidening.Reorder); for float16 it is also multiplied by 2^112, which saves the rescaling multiply,
        // and exact only while no h · 2^112 overflows: otherwise every float16 row takes the exactly widened path.
        float* ordered = null, unscaled = null, lifted = null;
        if (format != WeightFormat.Float32 && IsAccelerated && columns >= 32)
        {
            bool prescale = format == WeightFormat.Float16;
            if (!prescale || HalfWidening.CanPrescale((float*)hidden, columns))
            {
                ordered = (float*)NativeMemory.AlignedAlloc((nuint)columns * sizeof(float), 32);
                HalfWidening.Reorder((float*)hidden, ordered, columns, prescale, wide ? 32 : 16);

                // Chunks flagged for subnormals are multiplied by h itself, in the same order (Float16WeightScan).
                if (prescale && wide && facts.Finite && facts.SubnormalChunks != null)
                {
                    unscaled = (float*)NativeMemory.AlignedAlloc((nuint)columns * sizeof(float), 32);
                    HalfWidening.Reorder((float*)hidden, unscaled, columns, prescale: false, 32);
                    if (facts.HasCopies && Float16WeightScan.CopiesEnabled)
                    {
                        lifted = HalfWidening.LiftedForCopies(ordered, columns);
                    }
                }
            }
        }

        try
        {
            var job = new Job(weight, format, rows, columns, (float*)hidden, ordered, bias, output, vectorFormat, wide, facts, unscaled, lifted);
            KernelParallel.Blocks((rows + RowsPerBlock - 1) / RowsPerBlock, job.Run, parallel);
        }
        finally
        {
            NativeMemory.AlignedFree(ordered);
            NativeMemory.AlignedFree(unscaled);
            NativeMemory.AlignedFree(lifted);
        }
    }

    /// <summary>One call's operands; <see cref="Run"/> computes one block of rows.</summary>
    private readonly struct Job(
        nint weight, WeightFormat format, int rows, int columns, float* hidden, float* ordered, nint bias, nint output, WeightFormat vectorFormat, bool wide, Float16WeightFacts facts, float* unscaled, float* lifted)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int block)
        {
            int first = block * RowsPerBlock;
            int count = Math.Min(rows - first, RowsPerBlock);
            int elementSize = format == WeightFormat.Float32 ? sizeof(float) : sizeof(ushort);
            byte* w = (byte*)weight + (long)first * columns * elementSize;
            long stride = (long)columns * elementSize;

            // Rows are summed into float32: straight into the output, or into a block-sized buffer that is rounded at the end.
            float* sums = stackalloc float[vectorFormat == WeightFormat.Float32 ? 0 : count];
            if (vectorFormat == WeightFormat.Float32)
            {
                sums = (float*)output + first;
            }

            bool finite = facts.Finite;
            for (int i = 0; i < count; i++, w += stride)
            {
                if (wide && finite && format == WeightFormat.Float16 && ordered != null)
                {
                    sums[i] = lifted != null
                        ? DotFiniteFloat16WideCopied((ushort*)w, hidden, ordered, unscaled, lifted, columns, facts.Row(first + i), facts.Copies(first + i))
                        : DotFiniteFloat16Wide((ushort*)w, hidden, ordered, unscaled, columns, facts.Row(first + i));
                    continue;
                }

                sums[i] = (format, wide, finite) switch
                {
                    (WeightFormat.Float32, false, _) => DotSingle((float*)w, hidden, columns),
                    (WeightFormat.BFloat16, false, _) => DotBFloat16((ushort*)w, hidden, ordered, columns),
                    (WeightFormat.Float16, false, false) => DotFloat16<RangeChecked>((ushort*)w, hidden, ordered, columns),
                    (WeightFormat.Float16, false, true) => DotFloat16<RangeUnchecked>((ushort*)w, hidden, ordered, columns),
                    (WeightFormat.BFloat16, true, _) => DotBFloat16Wide((ushort*)w, hidden, ordered, columns),
                    _ => DotFloat16Wide((ushort*)w, hidden, ordered, columns),
                };
            }

            if (bias != 0)
            {
                for (int i = 0; i < count; i++)
                {
                    sums[i] += Load((byte*)bias, first + i, vectorFormat);
                }
            }

            if (vectorFormat != WeightFormat.Float32)
            {
                HalfNarrowing.Narrow(sums, (ushort*)output + first, count, vectorFormat == WeightFormat.BFloat16);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotSingle(float* w, float* h, int columns)
    {
        int j = 0;
        float sum = 0;
        if (IsAccelerated)
        {
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            for (; j <= columns - 32; j += 32)
            {
                PrefetchAhead(w + j, 128);
                a0 = Fma.MultiplyAdd(Avx.LoadVector256(w + j), Avx.LoadVector256(h + j), a0);
                a1 = Fma.MultiplyAdd(Avx.LoadVector256(w + j + 8), Avx.LoadVector256(h + j + 8), a1);
                a2 = Fma.MultiplyAdd(Avx.LoadVector256(w + j + 16), Avx.LoadVector256(h + j + 16), a2);
                a3 = Fma.MultiplyAdd(Avx.LoadVector256(w + j + 24), Avx.LoadVector256(h + j + 24), a3);
            }

            sum = Vector256.Sum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        }

        for (; j < columns; j++)
        {
            sum += w[j] * h[j];
        }

        return sum;
    }

    /// <summary>A bfloat16 row: each 32-bit lane of a load holds two weights, widened by a shift (low) and a mask (high).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotBFloat16(ushort* w, float* h, float* ordered, int columns)
    {
        int j = 0;
        float sum = 0;
        if (ordered != null)
        {
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            for (; j <= columns - 32; j += 32)
            {
                PrefetchAhead(w + j, 64);
                var x0 = Avx.LoadVector256((int*)(w + j));
                var x1 = Avx.LoadVector256((int*)(w + j + 16));
                a0 = Fma.MultiplyAdd(HalfWidening.BFloat16Low(x0), Avx.LoadVector256(ordered + j), a0);
                a1 = Fma.MultiplyAdd(HalfWidening.BFloat16High(x0), Avx.LoadVector256(ordered + j + 8), a1);
                a2 = Fma.MultiplyAdd(HalfWidening.BFloat16Low(x1), Avx.LoadVector256(ordered + j + 16), a2);
                a3 = Fma.MultiplyAdd(HalfWidening.BFloat16High(x1), Avx.LoadVector256(ordered + j + 24), a3);
            }

            sum = Vector256.Sum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        }

        for (; j < columns; j++)
        {
            sum += HalfWidening.BFloat16(w[j]) * h[j];
        }

        return sum;
    }

    /// <summary>
    /// A float16 row: against the reordered <c>h · 2^112</c> when there is one (<see cref="HalfWidening.Float16HighUnscaled(Vector256{int})"/>),
    /// which gives the very same products and sums as exact widening; a row holding an infinity or NaN, which that
    /// shortcut would read as a large finite number, is summed again with exact widening.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotFloat16<TCheck>(ushort* w, float* h, float* ordered, int columns)
        where TCheck : struct, IRangeCheck
    {
        int j = 0;
        float sum = 0;
        if (ordered != null)
        {
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            var unsignedMaximum = Vector256<ushort>.Zero;
            var signedMaximum = Vector256<short>.Zero;
            for (; j <= columns - 32; j += 32)
            {
                PrefetchAhead(w + j, 64);
                var x0 = Avx.LoadVector256((int*)(w + j));
                var x1 = Avx.LoadVector256((int*)(w + j + 16));
                if (TCheck.Checks)
                {
                    unsignedMaximum = Avx2.Max(Avx2.Max(unsignedMaximum, x0.AsUInt16()), x1.AsUInt16());
                    signedMaximum = Avx2.Max(Avx2.Max(signedMaximum, x0.AsInt16()), x1.AsInt16());
                }

                a0 = Fma.MultiplyAdd(HalfWidening.Float16LowUnscaled(x0), Avx.LoadVector256(ordered + j), a0);
                a1 = Fma.MultiplyAdd(HalfWidening.Float16HighUnscaled(x0), Avx.LoadVector256(ordered + j + 8), a1);
                a2 = Fma.MultiplyAdd(HalfWidening.Float16LowUnscaled(x1), Avx.LoadVector256(ordered + j + 16), a2);
                a3 = Fma.MultiplyAdd(HalfWidening.Float16HighUnscaled(x1), Avx.LoadVector256(ordered + j + 24), a3);
            }

            if (TCheck.Checks && HalfWidening.HasInfinityOrNaN(unsignedMaximum, signedMaximum))
            {
                return DotFloat16<RangeChecked>(w, h, null, columns);
            }

            sum = Vector256.Sum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        }
        else if (IsAccelerated)
        {
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            for (; j <= columns - 32; j += 32)
            {
                a0 = Fma.MultiplyAdd(HalfWidening.Float16(w + j), Avx.LoadVector256(h + j), a0);
                a1 = Fma.MultiplyAdd(HalfWidening.Float16(w + j + 8), Avx.LoadVector256(h + j + 8), a1);
                a2 = Fma.MultiplyAdd(HalfWidening.Float16(w + j + 16), Avx.LoadVector256(h + j + 16), a2);
                a3 = Fma.MultiplyAdd(HalfWidening.Float16(w + j + 24), Avx.LoadVector256(h + j + 24), a3);
            }

            sum = Vector256.Sum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        }

        for (; j < columns; j++)
        {
            sum += (float)BitConverter.UInt16BitsToHalf(w[j]) * h[j];
        }

        return sum;
    }

    /// <summary>
    /// Asks for the cache lines ahead of the <paramref name="bytes"/> (64 or 128) a loop step reads (<see cref="PrefetchStream"/>).
    /// A block is one sequential stream of rows, but the hardware prefetchers stop at every 4 KiB page and restart late;
    /// reading ahead in software kept the stream going (the float16 GPT-2 head on one thread, thread CPU time: 11.5-13.3 ms
    /// without, 6.8-8.5 ms with, docs/benchmarks.md run U-half).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrefetchAhead(void* step, int bytes)
    {
        PrefetchStream((byte*)step);
        if (bytes > 64)
        {
            PrefetchStream((byte*)step + 64);
        }
    }

    /// <summary>
    /// Reads ahead of a weight stream at <paramref name="line"/>, one call per 64 bytes the loop reads: into L1 2 KiB ahead,
    /// and into L2 16 KiB ahead, so that more lines are on their way than the L1's miss buffers hold. Against one L1 request
    /// 4 KiB ahead: decode steps 0.96-0.97x (float16 and float32 heads), and with the one-row loops of the linear layers at
    /// batch 1 0.91-0.95x (docs/benchmarks.md, run AA).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrefetchStream(byte* line)
    {
        Sse.Prefetch0(line + 2048);
        Sse.Prefetch2(line + 16384);
    }

    private static float Load(byte* vector, int i, WeightFormat format) => format switch
    {
        WeightFormat.Float32 => ((float*)vector)[i],
        WeightFormat.BFloat16 => HalfWidening.BFloat16(((ushort*)vector)[i]),
        _ => (float)BitConverter.UInt16BitsToHalf(((ushort*)vector)[i]),
    };
}
