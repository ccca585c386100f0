using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LmHead.Extensions.Decoding.Cpu;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>
/// The element-wise and per-row parts of a managed GPT-2 decode step, on float32 activations with parameters and cached
/// keys and values in the model's dtype: LayerNorm, <c>gelu_new</c>, and attention of one query over a head's cache.
/// Each works on one row at a time, so its result never depends on the other rows of a batch.
/// </summary>
internal static unsafe partial class Gpt2DecodeKernels
{
    private static readonly float Sqrt2OverPi = (float)Math.Sqrt(2.0 / Math.PI);

    /// <summary>Reads element <paramref name="i"/> of a vector of <paramref name="format"/> as float32 (exactly).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Element(byte* vector, long i, WeightFormat format) => format switch
    {
        WeightFormat.Float32 => ((float*)vector)[i],
        WeightFormat.BFloat16 => HalfWidening.BFloat16(((ushort*)vector)[i]),
        _ => (float)BitConverter.UInt16BitsToHalf(((ushort*)vector)[i]),
    };

    /// <summary>Reads 8 elements from <paramref name="i"/> on as float32 (exactly; needs AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Load8(byte* vector, long i, WeightFormat format) => format switch
    {
        WeightFormat.Float32 => Avx.LoadVector256((float*)vector + i),
        WeightFormat.BFloat16 => HalfWidening.BFloat16((ushort*)vector + i),
        _ => HalfWidening.Float16((ushort*)vector + i),
    };

    /// <summary>Writes float32 values to a vector of <paramref name="format"/> (rounded to nearest even).</summary>
    internal static void Store(float* source, byte* target, int count, WeightFormat format)
    {
        if (format == WeightFormat.Float32)
        {
            new ReadOnlySpan<float>(source, count).CopyTo(new Span<float>(target, count));
        }
        else
        {
            HalfNarrowing.Narrow(source, (ushort*)target, count, format == WeightFormat.BFloat16);
        }
    }

    /// <summary><c>y = (x - mean) / √(var + ε) · weight + bias</c> over one row; mean and variance summed in float64.</summary>
    /// <remarks>
    /// The float64 sums run in four-lane vectors (two accumulators, eight floats a step) and then the leftover elements:
    /// a fixed order per row, so a row's result never depends on the batch. Every float32 difference and square is exact
    /// in float64, so the order moves the statistics by float64 rounding only, far below float32's.
    /// </remarks>
    internal static void LayerNorm(float* x, float* y, int size, byte* weight, byte* bias, WeightFormat format, double epsilon)
    {
        double mean = Sum(x, size, 0, squares: false) / size;
        double variance = Sum(x, size, mean, squares: true) / size;
        float scale = (float)(1.0 / Math.Sqrt(variance + epsilon));
        float centre = (float)mean;
        int i = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            var c = Vector256.Create(centre);
            var s = Vector256.Create(scale);
            for (; i <= size - 8; i += 8)
            {
                var normalized = Avx.Multiply(Avx.Subtract(Avx.LoadVector256(x + i), c), s);
                Avx.Store(y + i, Fma.MultiplyAdd(normalized, Load8(weight, i, format), Load8(bias, i, format)));
            }
        }

        for (; i < size; i++)
        {
            y[i] = MathF.FusedMultiplyAdd((x[i] - centre) * scale, Element(weight, i, format), Element(bias, i, format));
        }
    }

    /// <summary>
    /// <c>Σ (x - centre)</c> or <c>Σ (x - centre)²</c> in float64: two four-lane accumulators over steps of eight,
    /// added lane-wise and across, then the leftover elements in order.
    /// </summary>
    private static double Sum(float* x, int size, double centre, bool squares)
    {
        int i = 0;
        double sum = 0;
        if (MatrixVectorKernel.IsAccelerated && size >= 8)
        {
            var c = Vector256.Create(centre);
            var low = Vector256<double>.Zero;
            var high = Vector256<double>.Zero;
            for (; i <= size - 8; i += 8)
            {
                var v = Avx.LoadVector256(x + i);
                var a = Avx.Subtract(Avx.ConvertToVector256Double(v.GetLower()), c);
                var b = Avx.Subtract(Avx.ConvertToVector256Double(v.GetUpper()), c);
                low = squares ? Fma.MultiplyAdd(a, a, low) : Avx.Add(low, a);
                high = squares ? Fma.MultiplyAdd(b, b, high) : Avx.Add(high, b);
            }

            sum = Vector256.Sum(Avx.Add(low, high));
        }

        for (; i < size; i++)
        {
            double d = x[i] - centre;
            sum += squares ? d * d : d;
        }

        return sum;
    }

    /// <summary><c>y[i] = a[i] + b[i]</c> for vectors of <paramref name="format"/> read as float32 (the embedding sum).</summary>
    internal static void AddElements(byte* a, byte* b, float* y, int count, WeightFormat format)
    {
        int i = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            for (; i <= count - 8; i += 8)
            {
                Avx.Store(y + i, Avx.Add(Load8(a, i, format), Load8(b, i, format)));
            }
        }

        for (; i < count; i++)
        {
            y[i] = Element(a, i, format) + Element(b, i, format);
        }
    }

    /// <summary><c>y[i] = a[i]</c> for a vector of <paramref name="format"/> read as float32 (an embedding row).</summary>
    internal static void Widen(byte* a, float* y, int count, WeightFormat format)
    {
        int i = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            for (; i <= count - 8; i += 8)
            {
                Avx.Store(y + i, Load8(a, i, format));
            }
        }

        for (; i < count; i++)
        {
            y[i] = Element(a, i, format);
        }
    }

    /// <summary><c>x[i] += update[i]</c> (the residual connections).</summary>
    internal static void AddInPlace(float* x, float* update, long count)
    {
        long i = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            for (; i <= count - 8; i += 8)
            {
                Avx.Store(x + i, Avx.Add(Avx.LoadVector256(x + i), Avx.LoadVector256(update + i)));
            }
        }

        for (; i < count; i++)
        {
            x[i] += update[i];
        }
    }

    /// <summary>
    /// <c>gelu_new</c> in place: <c>0.5 x (1 + tanh(u)) = x / (1 + e^(-2u))</c> with <c>u = √(2/π) (x + 0.044715 x³)</c>,
    /// the exponential by <see cref="FastExp"/> (about 2 ulp; e^(-2u) clamped to e^88 gives 0 for very negative x).
    /// </summary>
    internal static void GeluNew(float* x, int count)
    {
        int i = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            var c = Vector256.Create(Sqrt2OverPi);
            var k = Vector256.Create(0.044715f);
            var minusTwo = Vector256.Create(-2f);
            for (; i <= count - 8; i += 8)
            {
                var v = Avx.LoadVector256(x + i);
                var u = c * Fma.MultiplyAdd(k * v * v, v, v);
                Avx.Store(x + i, v / (Vector256<float>.One + FastExp.Exp(minusTwo * u)));
            }
        }

        for (; i < count; i++)
        {
            float v = x[i];
            float u = Sqrt2OverPi * MathF.FusedMultiplyAdd(0.044715f * v * v, v, v);
            x[i] = v / (1f + MathF.Exp(Math.Min(-2f * u, 88f)));
        }
    }

    /// <summary>
    /// One head's attention for one query: <c>softmax(q · Kᵀ / √hd) · V</c> over the first <paramref name="count"/> cached
    /// positions, skipping those <paramref name="padding"/> marks (left padding, which the torch path masks to weight 0).
    /// </summary>
    /// <param name="query">hd float32 values.</param>
    /// <param name="keys">The head's keys, one row of hd elements per position.</param>
    /// <param name="values">The head's values, laid out like the keys.</param>
    /// <param name="count">Positions to attend to (the new one included).</param>
    /// <param name="headSize">hd.</param>
    /// <param name="format">The dtype of the cache.</param>
    /// <param name="padding">One flag per position (true: skip), or null.</param>
    /// <param name="scores">Scratch for <paramref name="count"/> values, rounded up to a multiple of 8.</param>
    /// <param name="output">hd float32 values.</param>
    /// <remarks>
    /// The reference order of the arithmetic: <see cref="Attend"/> gives the same bits faster with AVX2 (and this is its
    /// path without). Per position, the dot product with the key in 8 lanes then <see cref="Vector256.Sum{T}(Vector256{T})"/>
    /// and the leftover elements; the output summed over positions in order.
    /// </remarks>
    internal static void AttendInOrder(float* query, byte* keys, byte* values, int count, int headSize, WeightFormat format, bool[]? padding, float* scores, float* output)
    {
        float scale = 1f / MathF.Sqrt(headSize);
        float max = float.NegativeInfinity;
        for (int s = 0; s < count; s++)
        {
            if (padding is not null && s < padding.Length && padding[s])
            {
                scores[s] = float.NegativeInfinity;
                continue;
            }

            scores[s] = Dot(query, keys + ((long)s * headSize * ElementSize(format)), headSize, format) * scale;
            max = Math.Max(max, scores[s]);
        }

        float total = Exponentiate(scores, count, max);
        new Span<float>(output, headSize).Clear();
        for (int s = 0; s < count; s++)
        {
            if (scores[s] != 0)
            {
                Accumulate(output, values + ((long)s * headSize * ElementSize(format)), scores[s], headSize, format);
            }
        }

        float inverse = 1f / total;
        for (int i = 0; i < headSize; i++)
        {
            output[i] *= inverse;
        }
    }

    private static int ElementSize(WeightFormat format) => format == WeightFormat.Float32 ? sizeof(float) : sizeof(ushort);

    /// <summary>Replaces each score by <c>e^(score - max)</c> and returns their sum (in order).</summary>
    private static float Exponentiate(float* scores, int count, float max)
    {
        int s = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            var shift = Vector256.Create(max);
            for (; s <= count - 8; s += 8)
            {
                Avx.Store(scores + s, FastExp.Exp(Avx.LoadVector256(scores + s) - shift));
            }
        }

        for (; s < count; s++)
        {
            scores[s] = MathF.Exp(scores[s] - max);
        }

        float total = 0;
        for (s = 0; s < count; s++)
        {
            total += scores[s];
        }

        return total;
    }

    private static float Dot(float* query, byte* key, int size, WeightFormat format)
    {
        int i = 0;
        float sum = 0;
        if (MatrixVectorKernel.IsAccelerated && size >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= size - 8; i += 8)
            {
                acc = Fma.MultiplyAdd(Load8(key, i, format), Avx.LoadVector256(query + i), acc);
            }

            sum = Vector256.Sum(acc);
        }

        for (; i < size; i++)
        {
            sum = MathF.FusedMultiplyAdd(Element(key, i, format), query[i], sum);
        }

        return sum;
    }

    private static void Accumulate(float* output, byte* value, float weight, int size, WeightFormat format)
    {
        int i = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            var w = Vector256.Create(weight);
            for (; i <= size - 8; i += 8)
            {
                Avx.Store(output + i, Fma.MultiplyAdd(Load8(value, i, format), w, Avx.LoadVector256(output + i)));
            }
        }

        for (; i < size; i++)
        {
            output[i] = MathF.FusedMultiplyAdd(Element(value, i, format), weight, output[i]);
        }
    }
}
