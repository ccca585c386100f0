using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Generation;

/// <summary>
/// Projects the hidden states of every request of a batched step to float32 logits, <c>[k, d]</c> → <c>[k, V]</c>, so
/// that each row's logits are bit-identical whatever the other rows are and however many there are: a request's
/// tokens then do not depend on what runs beside it.
/// </summary>
/// <remarks>
/// A float32 output matrix in CPU memory without a bias (GPT-2's tied <c>wte</c>) is read once for the whole batch: each
/// weight row is multiplied with every hidden state while it sits in the L1 cache, blocks of rows in parallel. Each
/// dot product sums in exactly the order of <see cref="MatrixVectorKernel"/> (four 8-wide accumulators over blocks of
/// 32, then the tail), so with AVX2 and FMA a row also equals what <see cref="LogitsProjector.Project"/> gives for it
/// alone. Any other head (half precision, a bias, another device) is projected row by row with
/// <see cref="LogitsProjector.Project"/>, which reads the matrix once per row.
/// </remarks>
internal static unsafe class BatchedHeadProjection
{
    /// <summary>Weight rows per parallel work item.</summary>
    private const int RowsPerBlock = 1024;

    /// <summary>Computes <c>logits[b, i] = Σⱼ W[i, j] · hidden[b, j]</c> in float32.</summary>
    /// <param name="projector">The head.</param>
    /// <param name="hidden">Hidden states <c>[k, d]</c> on the head's device.</param>
    /// <returns>Logits <c>[k, V]</c> in float32; the caller owns the tensor (or its dispose scope does).</returns>
    internal static Tensor Project(LogitsProjector projector, Tensor hidden)
    {
        var weight = projector.Weight;
        int batch = checked((int)hidden.size(0));
        if (projector.Bias is not null || weight.device_type != DeviceType.CPU || hidden.device_type != DeviceType.CPU
            || weight.dtype != ScalarType.Float32 || !weight.is_contiguous())
        {
            return stack(Enumerable.Range(0, batch).Select(b => projector.Project(hidden[b]).to_type(ScalarType.Float32)));
        }

        int rows = projector.VocabularySize, columns = projector.HiddenSize;
        using var input = hidden.to_type(ScalarType.Float32).contiguous();
        var output = empty(batch, rows, ScalarType.Float32);
        fixed (byte* w = weight.bytes)
        fixed (byte* h = input.bytes)
        fixed (byte* y = output.bytes)
        {
            nint wAddress = (nint)w, hAddress = (nint)h, yAddress = (nint)y;
            int blocks = (rows + RowsPerBlock - 1) / RowsPerBlock;
            Parallel.For(0, blocks, block => MultiplyBlock((float*)wAddress, (float*)hAddress, (float*)yAddress, rows, columns, batch, block));
        }

        return output;
    }

    private static void MultiplyBlock(float* weight, float* hidden, float* output, int rows, int columns, int batch, int block)
    {
        int first = block * RowsPerBlock, end = Math.Min(rows, first + RowsPerBlock);
        for (int i = first; i < end; i++)
        {
            float* w = weight + (long)i * columns;
            int b = 0;
            for (; b + 1 < batch; b += 2)
            {
                DotPair(w, hidden + (long)b * columns, hidden + (long)(b + 1) * columns, columns, out output[(long)b * rows + i], out output[(long)(b + 1) * rows + i]);
            }

            if (b < batch)
            {
                DotPair(w, hidden + (long)b * columns, null, columns, out output[(long)b * rows + i], out _);
            }
        }
    }

    /// <summary>Two dot products of one weight row (the second skipped when <paramref name="h1"/> is null), each summed in <see cref="MatrixVectorKernel"/>'s order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotPair(float* w, float* h0, float* h1, int columns, out float sum0, out float sum1)
    {
        int j = 0;
        sum0 = 0;
        sum1 = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (; j <= columns - 32; j += 32)
            {
                var w0 = Avx.LoadVector256(w + j);
                var w1 = Avx.LoadVector256(w + j + 8);
                var w2 = Avx.LoadVector256(w + j + 16);
                var w3 = Avx.LoadVector256(w + j + 24);
                a0 = Fma.MultiplyAdd(w0, Avx.LoadVector256(h0 + j), a0);
                a1 = Fma.MultiplyAdd(w1, Avx.LoadVector256(h0 + j + 8), a1);
                a2 = Fma.MultiplyAdd(w2, Avx.LoadVector256(h0 + j + 16), a2);
                a3 = Fma.MultiplyAdd(w3, Avx.LoadVector256(h0 + j + 24), a3);
                if (h1 != null)
                {
                    b0 = Fma.MultiplyAdd(w0, Avx.LoadVector256(h1 + j), b0);
                    b1 = Fma.MultiplyAdd(w1, Avx.LoadVector256(h1 + j + 8), b1);
                    b2 = Fma.MultiplyAdd(w2, Avx.LoadVector256(h1 + j + 16), b2);
                    b3 = Fma.MultiplyAdd(w3, Avx.LoadVector256(h1 + j + 24), b3);
                }
            }

            sum0 = Vector256.Sum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
            sum1 = Vector256.Sum(Avx.Add(Avx.Add(b0, b1), Avx.Add(b2, b3)));
        }

        for (; j < columns; j++)
        {
            sum0 += w[j] * h0[j];
            if (h1 != null)
            {
                sum1 += w[j] * h1[j];
            }
        }
    }
}
