using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// <c>y = W · h</c> for a row-major <c>[V, d]</c> weight matrix in float32, bfloat16 or float16, with float32
/// accumulation: four rows at a time share each 8-wide load of <c>h</c> (Vector256, fused multiply-add where the CPU has
/// it), and blocks of rows run in parallel on all cores. The work is a single read of the matrix, so its speed is the
/// memory bandwidth; half-precision weights halve the bytes read and are widened to float32 in registers.
/// </summary>
internal static unsafe class MatrixVectorKernel
{
    /// <summary>Rows per parallel work item: large enough to amortise scheduling, small enough to balance two cores.</summary>
    private const int RowsPerBlock = 1024;

    /// <summary>The element types the kernel reads.</summary>
    public enum WeightFormat
    {
        /// <summary>IEEE float32.</summary>
        Float32,

        /// <summary>bfloat16: the upper 16 bits of a float32.</summary>
        BFloat16,

        /// <summary>IEEE float16.</summary>
        Float16,
    }

    /// <summary>Computes <c>y[i] = Σⱼ W[i, j] · h[j] (+ bias[i])</c> for every row.</summary>
    /// <param name="weight">The address of <c>W</c>, row-major, <paramref name="rows"/> × <paramref name="columns"/> elements of <paramref name="format"/>.</param>
    /// <param name="format">The element type of <c>W</c>.</param>
    /// <param name="rows">V.</param>
    /// <param name="columns">d.</param>
    /// <param name="hidden">The address of <c>h</c>, <paramref name="columns"/> float32 values.</param>
    /// <param name="bias">The address of a float32 bias of <paramref name="rows"/> values, or zero.</param>
    /// <param name="output">The address of <c>y</c>, <paramref name="rows"/> float32 values.</param>
    /// <param name="parallel">Whether to split the rows over all cores.</param>
    public static void Multiply(nint weight, WeightFormat format, int rows, int columns, nint hidden, nint bias, nint output, bool parallel = true)
    {
        int blocks = (rows + RowsPerBlock - 1) / RowsPerBlock;
        if (parallel && blocks > 1 && Environment.ProcessorCount > 1)
        {
            Parallel.For(0, blocks, block => MultiplyBlock(weight, format, rows, columns, hidden, bias, output, block));
        }
        else
        {
            for (int block = 0; block < blocks; block++)
            {
                MultiplyBlock(weight, format, rows, columns, hidden, bias, output, block);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyBlock(nint weight, WeightFormat format, int rows, int columns, nint hidden, nint bias, nint output, int block)
    {
        int first = block * RowsPerBlock;
        int last = Math.Min(rows, first + RowsPerBlock);
        int elementSize = format == WeightFormat.Float32 ? 4 : 2;
        var h = (float*)hidden;
        var y = (float*)output;
        int row = first;
        for (; row <= last - 4; row += 4)
        {
            byte* w = (byte*)weight + (long)row * columns * elementSize;
            long stride = (long)columns * elementSize;
            switch (format)
            {
                case WeightFormat.Float32:
                    Dot4((float*)w, (float*)(w + stride), (float*)(w + 2 * stride), (float*)(w + 3 * stride), h, columns, y + row);
                    break;
                case WeightFormat.BFloat16:
                    Dot4Half<BFloat16Widener>((ushort*)w, (ushort*)(w + stride), (ushort*)(w + 2 * stride), (ushort*)(w + 3 * stride), format, h, columns, y + row);
                    break;
                default:
                    Dot4Half<Float16Widener>((ushort*)w, (ushort*)(w + stride), (ushort*)(w + 2 * stride), (ushort*)(w + 3 * stride), format, h, columns, y + row);
                    break;
            }
        }

        for (; row < last; row++)
        {
            byte* w = (byte*)weight + (long)row * columns * elementSize;
            float sum = 0;
            for (int j = 0; j < columns; j++)
            {
                sum += Load(w, j, format) * h[j];
            }

            y[row] = sum;
        }

        if (bias != 0)
        {
            var b = (float*)bias;
            for (int r = first; r < last; r++)
            {
                y[r] += b[r];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4(float* w0, float* w1, float* w2, float* w3, float* h, int columns, float* y)
    {
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        var a2 = Vector256<float>.Zero;
        var a3 = Vector256<float>.Zero;
        int j = 0;
        for (; j <= columns - 8; j += 8)
        {
            var hv = Vector256.Load(h + j);
            a0 = MultiplyAdd(Vector256.Load(w0 + j), hv, a0);
            a1 = MultiplyAdd(Vector256.Load(w1 + j), hv, a1);
            a2 = MultiplyAdd(Vector256.Load(w2 + j), hv, a2);
            a3 = MultiplyAdd(Vector256.Load(w3 + j), hv, a3);
        }

        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; j < columns; j++)
        {
            s0 += w0[j] * h[j];
            s1 += w1[j] * h[j];
            s2 += w2[j] * h[j];
            s3 += w3[j] * h[j];
        }

        y[0] = s0;
        y[1] = s1;
        y[2] = s2;
        y[3] = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4Half<TWidener>(ushort* w0, ushort* w1, ushort* w2, ushort* w3, WeightFormat format, float* h, int columns, float* y)
        where TWidener : struct, IWidener
    {
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        var a2 = Vector256<float>.Zero;
        var a3 = Vector256<float>.Zero;
        int j = 0;
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            // Written out per format: the portable Vector256 operators and generic helpers compiled to slower code here.
            for (; j <= columns - 8; j += 8)
            {
                var hv = Avx.LoadVector256(h + j);
                if (typeof(TWidener) == typeof(BFloat16Widener))
                {
                    a0 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(w0 + j), 16).AsSingle(), hv, a0);
                    a1 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(w1 + j), 16).AsSingle(), hv, a1);
                    a2 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(w2 + j), 16).AsSingle(), hv, a2);
                    a3 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(w3 + j), 16).AsSingle(), hv, a3);
                }
                else
                {
                    a0 = Fma.MultiplyAdd(Float16ToSingle(Avx2.ConvertToVector256Int32(w0 + j)), hv, a0);
                    a1 = Fma.MultiplyAdd(Float16ToSingle(Avx2.ConvertToVector256Int32(w1 + j)), hv, a1);
                    a2 = Fma.MultiplyAdd(Float16ToSingle(Avx2.ConvertToVector256Int32(w2 + j)), hv, a2);
                    a3 = Fma.MultiplyAdd(Float16ToSingle(Avx2.ConvertToVector256Int32(w3 + j)), hv, a3);
                }
            }
        }
        else
        {
            for (; j <= columns - 8; j += 8)
            {
                var hv = Vector256.Load(h + j);
                a0 = MultiplyAdd(TWidener.Widen(w0 + j), hv, a0);
                a1 = MultiplyAdd(TWidener.Widen(w1 + j), hv, a1);
                a2 = MultiplyAdd(TWidener.Widen(w2 + j), hv, a2);
                a3 = MultiplyAdd(TWidener.Widen(w3 + j), hv, a3);
            }
        }

        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; j < columns; j++)
        {
            s0 += Load((byte*)w0, j, format) * h[j];
            s1 += Load((byte*)w1, j, format) * h[j];
            s2 += Load((byte*)w2, j, format) * h[j];
            s3 += Load((byte*)w3, j, format) * h[j];
        }

        y[0] = s0;
        y[1] = s1;
        y[2] = s2;
        y[3] = s3;
    }

    /// <summary>AVX2 float16 → float32 for 8 zero-extended values (same rules as <see cref="Float16Widener"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Float16ToSingle(Vector256<int> wide)
    {
        var magnitude = Avx2.And(wide, Vector256.Create(0x7FFF));
        var shifted = Avx2.ShiftLeftLogical(magnitude, 13);
        var scaled = Avx.Multiply(shifted.AsSingle(), Vector256.Create(BitConverter.UInt32BitsToSingle(0x77800000u)));
        var special = Avx2.CompareGreaterThan(magnitude, Vector256.Create(0x7BFF)).AsSingle();
        var result = Avx.BlendVariable(scaled, Avx2.Or(shifted, Vector256.Create(0x7F800000)).AsSingle(), special);
        return Avx.Or(result, Avx2.ShiftLeftLogical(Avx2.And(wide, Vector256.Create(0x8000)), 16).AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>Widens 8 bfloat16 or float16 values to float32.</summary>
    internal static Vector256<float> Widen(Vector128<ushort> bits, bool brain)
    {
        ushort* buffer = stackalloc ushort[8];
        bits.Store(buffer);
        return brain ? BFloat16Widener.Widen(buffer) : Float16Widener.Widen(buffer);
    }

    /// <summary>Loads 8 unsigned 16-bit values, zero-extended to 32 bits (one vpmovzxwd with AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Load8(ushort* source) =>
        Avx2.IsSupported ? Avx2.ConvertToVector256Int32(source).AsUInt32() : Vector256.WidenLower(Vector128.Load(source).ToVector256Unsafe());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> ShiftLeft16(Vector256<uint> value) => Avx2.IsSupported ? Avx2.ShiftLeftLogical(value, 16) : value << 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> ShiftLeft13(Vector256<uint> value) => Avx2.IsSupported ? Avx2.ShiftLeftLogical(value, 13) : value << 13;

    /// <summary>Widens 8 values of one half-precision format to float32 (specialised per format by the JIT).</summary>
    private interface IWidener
    {
        static abstract Vector256<float> Widen(ushort* source);
    }

    private readonly struct BFloat16Widener : IWidener
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Widen(ushort* source) => ShiftLeft16(Load8(source)).AsSingle();
    }

    private readonly struct Float16Widener : IWidener
    {
        // Exponent and mantissa move into place and are rescaled by 2^112, which also handles subnormals;
        // infinities and NaNs (exponent 31) get the float32 all-ones exponent instead; the sign is put back last.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Widen(ushort* source)
        {
            var wide = Load8(source);
            var magnitude = wide & Vector256.Create(0x7FFFu);
            var shifted = ShiftLeft13(magnitude);
            var scaled = shifted.AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle(0x77800000u));
            var special = Vector256.GreaterThan(magnitude.AsInt32(), Vector256.Create(0x7BFF)).AsSingle();
            var result = Vector256.ConditionalSelect(special, (shifted | Vector256.Create(0x7F800000u)).AsSingle(), scaled);
            return (result.AsUInt32() | ShiftLeft16(wide & Vector256.Create(0x8000u))).AsSingle();
        }
    }

    private static float Load(byte* row, int j, WeightFormat format) => format switch
    {
        WeightFormat.Float32 => ((float*)row)[j],
        WeightFormat.BFloat16 => BitConverter.UInt32BitsToSingle((uint)((ushort*)row)[j] << 16),
        _ => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[j]),
    };
}
