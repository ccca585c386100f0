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
                default:
                    Dot4Half((ushort*)w, (ushort*)(w + stride), (ushort*)(w + 2 * stride), (ushort*)(w + 3 * stride), format, h, columns, y + row);
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

    private static void Dot4Half(ushort* w0, ushort* w1, ushort* w2, ushort* w3, WeightFormat format, float* h, int columns, float* y)
    {
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        var a2 = Vector256<float>.Zero;
        var a3 = Vector256<float>.Zero;
        int j = 0;
        bool brain = format == WeightFormat.BFloat16;
        for (; j <= columns - 8; j += 8)
        {
            var hv = Vector256.Load(h + j);
            a0 = MultiplyAdd(Widen(Vector128.Load(w0 + j), brain), hv, a0);
            a1 = MultiplyAdd(Widen(Vector128.Load(w1 + j), brain), hv, a1);
            a2 = MultiplyAdd(Widen(Vector128.Load(w2 + j), brain), hv, a2);
            a3 = MultiplyAdd(Widen(Vector128.Load(w3 + j), brain), hv, a3);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>Widens 8 bfloat16 or float16 values to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Widen(Vector128<ushort> bits, bool brain)
    {
        var wide = Vector256.WidenLower(bits.ToVector256Unsafe()).AsUInt32();
        if (brain)
        {
            return (wide << 16).AsSingle();
        }

        // float16: move exponent and mantissa into place and rescale by 2^112, which also handles subnormals;
        // infinities and NaNs (exponent 31) get the float32 all-ones exponent instead.
        var magnitude = wide & Vector256.Create(0x7FFFu);
        var scaled = (magnitude << 13).AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle(0x77800000u));
        var special = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x7C00u));
        var result = Vector256.ConditionalSelect(special.AsSingle(), ((magnitude << 13) | Vector256.Create(0x7F800000u)).AsSingle(), scaled);
        return (result.AsUInt32() | ((wide & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    private static float Load(byte* row, int j, WeightFormat format) => format switch
    {
        WeightFormat.Float32 => ((float*)row)[j],
        WeightFormat.BFloat16 => BitConverter.UInt32BitsToSingle((uint)((ushort*)row)[j] << 16),
        _ => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[j]),
    };
}
