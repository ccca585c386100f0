using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LmHead.Extensions.Decoding.Cpu;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>Attention of one query over a head's cache, with AVX2: the same bits as <see cref="Gpt2DecodeKernels.AttendInOrder"/>, faster.</summary>
internal static unsafe partial class Gpt2DecodeKernels
{
    /// <summary>Output columns summed in registers per pass over the positions (8 vectors: a GPT-2 head of 64 in one pass).</summary>
    private const int ColumnBlock = 64;

    /// <summary>float16 rows checked for infinities and NaNs at a time (4 KiB of a GPT-2 head, read again from L1 right after).</summary>
    private const int RowChunk = 32;

    /// <summary>
    /// One head's attention for one query: <c>softmax(q · Kᵀ / √hd) · V</c> over the first <paramref name="count"/> cached
    /// positions, skipping those <paramref name="padding"/> marks; bit for bit <see cref="AttendInOrder"/>'s result.
    /// </summary>
    /// <remarks>
    /// Three things make it faster without changing any rounding: the dot products of four positions run side by side
    /// (four independent chains of multiply-adds instead of one, each in the reference order); the output is summed in
    /// registers, a block of 64 columns per pass over the positions, instead of loaded and stored for every position; and a
    /// float16 cache is widened by a shift and a mask to values 2^112 times too small
    /// (<see cref="HalfWidening.Float16Unscaled"/>), against a query and probabilities multiplied by 2^112, in every chunk of
    /// rows without an infinity or NaN (the others take the exact widening). Both
    /// scalings are exact (powers of two, no overflow after <see cref="HalfWidening.CanPrescale"/>, probabilities at most
    /// 1), so every product, and every multiply-add, is the very same number as with the exact widening.
    /// </remarks>
    /// <param name="query">hd float32 values.</param>
    /// <param name="keys">The head's keys, one row of hd elements per position.</param>
    /// <param name="values">The head's values, laid out like the keys.</param>
    /// <param name="count">Positions to attend to (the new one included).</param>
    /// <param name="headSize">hd.</param>
    /// <param name="format">The dtype of the cache.</param>
    /// <param name="padding">One flag per position (true: skip), or null.</param>
    /// <param name="scores">Scratch for <paramref name="count"/> values, rounded up to a multiple of 8.</param>
    /// <param name="output">hd float32 values.</param>
    /// <param name="exactWidening">Widen float16 exactly even when the shortcut applies (for tests).</param>
    internal static void Attend(
        float* query, byte* keys, byte* values, int count, int headSize, WeightFormat format, bool[]? padding, float* scores, float* output, bool exactWidening = false)
    {
        if (!MatrixVectorKernel.IsAccelerated)
        {
            AttendInOrder(query, keys, values, count, headSize, format, padding, scores, output);
            return;
        }

        long rowBytes = (long)headSize * (format == WeightFormat.Float32 ? sizeof(float) : sizeof(ushort));
        switch (format)
        {
            case WeightFormat.Float32:
                Dots<SingleRows>(query, keys, rowBytes, 0, count, headSize, scores);
                break;
            case WeightFormat.BFloat16:
                Dots<BFloat16Rows>(query, keys, rowBytes, 0, count, headSize, scores);
                break;
        }

        // float16: the shortcut needs a prescalable query and rows without infinities and NaNs, checked a chunk of rows at a
        // time just before the chunk is used (so the check reads from memory nothing the kernel would not read anyway). A
        // chunk that fails takes the exact widening; both give the same products, so the chunks need not agree.
        bool prescale = format == WeightFormat.Float16 && !exactWidening && HalfWidening.CanPrescale(query, headSize);
        float* prescaled = stackalloc float[prescale ? headSize : 0];
        if (format == WeightFormat.Float16)
        {
            for (int i = 0; prescale && i < headSize; i++)
            {
                prescaled[i] = query[i] * HalfWidening.BiasDifference;
            }

            for (int from = 0; from < count; from += RowChunk)
            {
                int to = Math.Min(count, from + RowChunk);
                if (prescale && !HalfWidening.HasInfinityOrNaN((ushort*)(keys + (from * rowBytes)), (long)(to - from) * headSize))
                {
                    Dots<UnscaledFloat16Rows>(prescaled, keys, rowBytes, from, to, headSize, scores);
                }
                else
                {
                    Dots<Float16Rows>(query, keys, rowBytes, from, to, headSize, scores);
                }
            }
        }

        float scale = 1f / MathF.Sqrt(headSize);
        float max = float.NegativeInfinity;
        for (int s = 0; s < count; s++)
        {
            if (padding is not null && s < padding.Length && padding[s])
            {
                scores[s] = float.NegativeInfinity;
                continue;
            }

            scores[s] *= scale;
            max = Math.Max(max, scores[s]);
        }

        float total = Exponentiate(scores, count, max);
        new Span<float>(output, headSize).Clear();
        switch (format)
        {
            case WeightFormat.Float32:
                WeightedSum<SingleRows>(values, rowBytes, scores, 0, count, headSize, output);
                break;
            case WeightFormat.BFloat16:
                WeightedSum<BFloat16Rows>(values, rowBytes, scores, 0, count, headSize, output);
                break;
            default:
                for (int from = 0; from < count; from += RowChunk)
                {
                    int to = Math.Min(count, from + RowChunk);
                    if (prescale && !HalfWidening.HasInfinityOrNaN((ushort*)(values + (from * rowBytes)), (long)(to - from) * headSize))
                    {
                        WeightedSum<UnscaledFloat16Rows>(values, rowBytes, scores, from, to, headSize, output);
                    }
                    else
                    {
                        WeightedSum<Float16Rows>(values, rowBytes, scores, from, to, headSize, output);
                    }
                }

                break;
        }

        float inverse = 1f / total;
        for (int i = 0; i < headSize; i++)
        {
            output[i] *= inverse;
        }
    }

    /// <summary><c>scores[s] = q · K[s]</c> (not yet divided by √hd) for positions <paramref name="from"/> to <paramref name="to"/>, four at a time, each in <see cref="Dot"/>'s order.</summary>
    private static void Dots<TRows>(float* query, byte* keys, long rowBytes, int from, int to, int headSize, float* scores)
        where TRows : struct, ICachedRows
    {
        int vectorEnd = headSize & ~7;
        int s = from;
        for (; s <= to - 4; s += 4)
        {
            byte* k0 = keys + (s * rowBytes), k1 = k0 + rowBytes, k2 = k1 + rowBytes, k3 = k2 + rowBytes;
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (int i = 0; i < vectorEnd; i += 8)
            {
                var q = Avx.LoadVector256(query + i);
                a0 = Fma.MultiplyAdd(TRows.Load8(k0, i), q, a0);
                a1 = Fma.MultiplyAdd(TRows.Load8(k1, i), q, a1);
                a2 = Fma.MultiplyAdd(TRows.Load8(k2, i), q, a2);
                a3 = Fma.MultiplyAdd(TRows.Load8(k3, i), q, a3);
            }

            scores[s] = DotTail<TRows>(query, k0, vectorEnd, headSize, a0);
            scores[s + 1] = DotTail<TRows>(query, k1, vectorEnd, headSize, a1);
            scores[s + 2] = DotTail<TRows>(query, k2, vectorEnd, headSize, a2);
            scores[s + 3] = DotTail<TRows>(query, k3, vectorEnd, headSize, a3);
        }

        for (; s < to; s++)
        {
            byte* k = keys + (s * rowBytes);
            var a = Vector256<float>.Zero;
            for (int i = 0; i < vectorEnd; i += 8)
            {
                a = Fma.MultiplyAdd(TRows.Load8(k, i), Avx.LoadVector256(query + i), a);
            }

            scores[s] = DotTail<TRows>(query, k, vectorEnd, headSize, a);
        }
    }

    /// <summary>The lanes' sum (0 when hd &lt; 8, as in <see cref="Dot"/>), then the leftover elements in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotTail<TRows>(float* query, byte* key, int vectorEnd, int headSize, Vector256<float> lanes)
        where TRows : struct, ICachedRows
    {
        float sum = vectorEnd > 0 ? Vector256.Sum(lanes) : 0;
        for (int i = vectorEnd; i < headSize; i++)
        {
            sum = MathF.FusedMultiplyAdd(TRows.Element(key, i), query[i], sum);
        }

        return sum;
    }

    /// <summary>
    /// <c>output += Σ_s scores[s] · V[s]</c> over positions <paramref name="from"/> to <paramref name="to"/> with a non-zero
    /// weight, in order, kept in registers: 8 vectors of columns per pass over the positions, then one vector, then the
    /// leftover columns one by one.
    /// </summary>
    private static void WeightedSum<TRows>(byte* values, long rowBytes, float* scores, int from, int to, int headSize, float* output)
        where TRows : struct, ICachedRows
    {
        float weightScale = TRows.WeightScale;
        int vectorEnd = headSize & ~7;
        int column = 0;
        for (; column <= vectorEnd - ColumnBlock; column += ColumnBlock)
        {
            float* c = output + column;
            Vector256<float> o0 = Avx.LoadVector256(c), o1 = Avx.LoadVector256(c + 8), o2 = Avx.LoadVector256(c + 16), o3 = Avx.LoadVector256(c + 24);
            Vector256<float> o4 = Avx.LoadVector256(c + 32), o5 = Avx.LoadVector256(c + 40), o6 = Avx.LoadVector256(c + 48), o7 = Avx.LoadVector256(c + 56);
            byte* v = values + (from * rowBytes);
            for (int s = from; s < to; s++, v += rowBytes)
            {
                if (scores[s] != 0)
                {
                    var w = Vector256.Create(scores[s] * weightScale);
                    o0 = Fma.MultiplyAdd(TRows.Load8(v, column), w, o0);
                    o1 = Fma.MultiplyAdd(TRows.Load8(v, column + 8), w, o1);
                    o2 = Fma.MultiplyAdd(TRows.Load8(v, column + 16), w, o2);
                    o3 = Fma.MultiplyAdd(TRows.Load8(v, column + 24), w, o3);
                    o4 = Fma.MultiplyAdd(TRows.Load8(v, column + 32), w, o4);
                    o5 = Fma.MultiplyAdd(TRows.Load8(v, column + 40), w, o5);
                    o6 = Fma.MultiplyAdd(TRows.Load8(v, column + 48), w, o6);
                    o7 = Fma.MultiplyAdd(TRows.Load8(v, column + 56), w, o7);
                }
            }

            Avx.Store(output + column, o0);
            Avx.Store(output + column + 8, o1);
            Avx.Store(output + column + 16, o2);
            Avx.Store(output + column + 24, o3);
            Avx.Store(output + column + 32, o4);
            Avx.Store(output + column + 40, o5);
            Avx.Store(output + column + 48, o6);
            Avx.Store(output + column + 56, o7);
        }

        for (; column < vectorEnd; column += 8)
        {
            var o = Avx.LoadVector256(output + column);
            byte* v = values + (from * rowBytes);
            for (int s = from; s < to; s++, v += rowBytes)
            {
                if (scores[s] != 0)
                {
                    o = Fma.MultiplyAdd(TRows.Load8(v, column), Vector256.Create(scores[s] * weightScale), o);
                }
            }

            Avx.Store(output + column, o);
        }

        for (; column < headSize; column++)
        {
            float o = output[column];
            byte* v = values + (from * rowBytes);
            for (int s = from; s < to; s++, v += rowBytes)
            {
                if (scores[s] != 0)
                {
                    o = MathF.FusedMultiplyAdd(TRows.Element(v, column), scores[s] * weightScale, o);
                }
            }

            output[column] = o;
        }
    }

    /// <summary>How the attention reads a cache row's elements as float32, specialised per dtype at JIT time.</summary>
    private interface ICachedRows
    {
        /// <summary>What the probabilities are multiplied by before they weight a value row (1, or 2^112 against unscaled rows).</summary>
        static abstract float WeightScale { get; }

        /// <summary>Elements <c>i .. i + 7</c> of a row.</summary>
        static abstract Vector256<float> Load8(byte* row, int i);

        /// <summary>Element <c>i</c> of a row.</summary>
        static abstract float Element(byte* row, int i);
    }

    private readonly struct SingleRows : ICachedRows
    {
        public static float WeightScale => 1f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* row, int i) => Avx.LoadVector256((float*)row + i);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Element(byte* row, int i) => ((float*)row)[i];
    }

    private readonly struct BFloat16Rows : ICachedRows
    {
        public static float WeightScale => 1f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* row, int i) => HalfWidening.BFloat16((ushort*)row + i);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Element(byte* row, int i) => HalfWidening.BFloat16(((ushort*)row)[i]);
    }

    private readonly struct Float16Rows : ICachedRows
    {
        public static float WeightScale => 1f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* row, int i) => HalfWidening.Float16((ushort*)row + i);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Element(byte* row, int i) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[i]);
    }

    /// <summary>Finite float16 rows read 2^112 times too small (exact: every such value is a float32, subnormal or not).</summary>
    private readonly struct UnscaledFloat16Rows : ICachedRows
    {
        public static float WeightScale => HalfWidening.BiasDifference;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* row, int i) => HalfWidening.Float16Unscaled((ushort*)row + i);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Element(byte* row, int i) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[i]) * HalfWidening.InverseBiasDifference;
    }
}
