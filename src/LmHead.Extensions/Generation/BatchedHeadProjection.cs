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
/// alone (with AVX-512, eight weight rows and two hidden states at a time in 16-lane registers, or four and four for the
/// rows the groups of eight leave: the same sums, see <see cref="WideBatchKernel.HeadEightByTwo"/> and
/// <see cref="WideBatchKernel.HeadFourByFour"/>). A half-precision head without a bias is read once for the batch as well, with
/// every logit what the single-state kernel gives (<see cref="MatrixVectorKernel.TryMultiplyHalfBatch"/>, AVX-512); any other
/// head (a bias, another device, a case that kernel declines) is projected row by row with <see cref="LogitsProjector.Project"/>,
/// which reads the matrix once per row.
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
        if (projector.Bias is null && hidden.device_type == DeviceType.CPU && HalfRows.IsHalf(weight.dtype)
            && projector.SingleStateKernelFormat() is { } format && ProjectHalf(projector, format, hidden, batch) is { } logits)
        {
            return logits;
        }

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
            KernelParallel.For(blocks, block => MultiplyBlock((float*)wAddress, (float*)hAddress, (float*)yAddress, rows, columns, batch, block));
        }

        return output;
    }

    /// <summary>
    /// A half-precision head without a bias that the single-state path projects with the managed kernel: every weight row
    /// read once for the batch (<see cref="MatrixVectorKernel.TryMultiplyHalfBatch"/>), each logit what that path gives for
    /// its state alone; null where the kernel declines (then state by state).
    /// </summary>
    private static Tensor? ProjectHalf(LogitsProjector projector, MatrixVectorKernel.WeightFormat format, Tensor hidden, int batch)
    {
        int rows = projector.VocabularySize, columns = projector.HiddenSize;
        var facts = projector.Float16Facts();
        using var input = hidden.to_type(ScalarType.Float32).contiguous();
        var output = empty(batch, rows, ScalarType.Float32);
        bool done;
        fixed (byte* w = projector.Weight.bytes)
        fixed (byte* h = input.bytes)
        fixed (byte* y = output.bytes)
        {
            done = MatrixVectorKernel.TryMultiplyHalfBatch((nint)w, format, rows, columns, (float*)h, batch, (float*)y, facts);
        }

        if (!done)
        {
            output.Dispose();
            return null;
        }

        return output;
    }

    /// <summary>Weight rows that stay in L2 while every group of four hidden states passes over them.</summary>
    private const int RowsPerTile = 64;

    private static void MultiplyBlock(float* weight, float* hidden, float* output, int rows, int columns, int batch, int block)
    {
        int first = block * RowsPerBlock, end = Math.Min(rows, first + RowsPerBlock);
        if (WideBatchKernel.IsSupported && WideBatchKernel.UseEightByTwoTile && batch >= 2 && columns >= 32)
        {
            first = EightRowGroups(weight, hidden, output, rows, columns, batch, first, end);
        }

        MultiplyRows(weight, hidden, output, rows, columns, batch, first, end);
    }

    /// <summary>
    /// Weight rows <c>[first, end)</c> in groups of eight against every pair of hidden states with
    /// <see cref="WideBatchKernel.HeadEightByTwo"/>: the group (24 KiB at 768 columns) stays in L1 while the pairs pass over
    /// it, and the group after the next is asked for from memory evenly over the group's steps. A last odd hidden state
    /// takes <see cref="DotPair"/>. Returns the first row left (fewer than eight remain).
    /// </summary>
    private static int EightRowGroups(float* weight, float* hidden, float* output, int rows, int columns, int batch, int first, int end)
    {
        int pairs = batch & ~1;
        int steps = (pairs / 2) * 2 * (columns / 32);
        long bytes = 8L * columns * sizeof(float);
        int aheadPerStep = (int)(((bytes + (64L * steps) - 1) / (64L * steps)) * 64);
        int i = first;
        for (; i + 8 <= end; i += 8)
        {
            float* w = weight + ((long)i * columns);
            byte* ahead = (byte*)(w + (16L * columns));
            for (int b = 0; b < pairs; b += 2)
            {
                ahead = WideBatchKernel.HeadEightByTwo(w, hidden + ((long)b * columns), columns, output + ((long)b * rows) + i, rows, ahead, aheadPerStep);
            }

            if (pairs < batch)
            {
                for (int r = 0; r < 8; r++)
                {
                    DotPair(w + ((long)r * columns), hidden + ((long)pairs * columns), null, columns, out output[((long)pairs * rows) + i + r], out _);
                }
            }
        }

        return i;
    }

    /// <summary>Weight rows <c>[first, end)</c> against every hidden state in tiles of <see cref="RowsPerTile"/> rows.</summary>
    private static void MultiplyRows(float* weight, float* hidden, float* output, int rows, int columns, int batch, int first, int end)
    {
        for (int tile = first; tile < end; tile += RowsPerTile)
        {
            int tileEnd = Math.Min(end, tile + RowsPerTile);
            int b = 0;

            // Four hidden states (L1) against each weight row of the tile (L2 after the first group; memory once); with
            // AVX-512 four weight rows at a time, sixteen dot products in thirty-two registers (two passes of sixteen), then a
            // pair, then one: the same sums whichever kernel takes a row (WideBatchKernel).
            for (; b + 4 <= batch; b += 4)
            {
                float* h = hidden + ((long)b * columns);
                int i = tile;
                if (WideBatchKernel.IsSupported)
                {
                    if (WideBatchKernel.UseFourByFourTile)
                    {
                        for (; i + 4 <= tileEnd; i += 4)
                        {
                            WideBatchKernel.HeadFourByFour(weight + ((long)i * columns), h, columns, output + ((long)b * rows) + i, rows);
                        }
                    }

                    for (; i + 2 <= tileEnd; i += 2)
                    {
                        WideBatchKernel.HeadTile(weight + ((long)i * columns), h, columns, output + ((long)b * rows) + i, rows);
                    }
                }

                for (; i < tileEnd; i++)
                {
                    float* y = output + ((long)b * rows) + i;
                    DotFour(weight + ((long)i * columns), h, columns, y, rows);
                }
            }

            for (int i = tile; i < tileEnd; i++)
            {
                float* w = weight + ((long)i * columns);
                int rest = b;
                for (; rest + 1 < batch; rest += 2)
                {
                    DotPair(w, hidden + ((long)rest * columns), hidden + ((long)(rest + 1) * columns), columns, out output[((long)rest * rows) + i], out output[((long)(rest + 1) * rows) + i]);
                }

                if (rest < batch)
                {
                    DotPair(w, hidden + ((long)rest * columns), null, columns, out output[((long)rest * rows) + i], out _);
                }
            }
        }
    }

    /// <summary>
    /// Four dot products of one weight row with four consecutive hidden states (<paramref name="columns"/> apart), each
    /// summed in <see cref="MatrixVectorKernel"/>'s order like <see cref="DotPair"/>; results <paramref name="outputStride"/> apart.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotFour(float* w, float* h, int columns, float* output, int outputStride)
    {
        if (!MatrixVectorKernel.IsAccelerated)
        {
            for (int r = 0; r < 4; r += 2)
            {
                DotPair(w, h + ((long)r * columns), h + ((long)(r + 1) * columns), columns, out output[(long)r * outputStride], out output[(long)(r + 1) * outputStride]);
            }

            return;
        }

        float* h0 = h, h1 = h0 + columns, h2 = h1 + columns, h3 = h2 + columns;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector256<float> d0 = default, d1 = default, d2 = default, d3 = default;
        int j = 0;
        for (; j <= columns - 32; j += 32)
        {
            var w0 = Avx.LoadVector256(w + j);
            a0 = Fma.MultiplyAdd(w0, Avx.LoadVector256(h0 + j), a0);
            b0 = Fma.MultiplyAdd(w0, Avx.LoadVector256(h1 + j), b0);
            c0 = Fma.MultiplyAdd(w0, Avx.LoadVector256(h2 + j), c0);
            d0 = Fma.MultiplyAdd(w0, Avx.LoadVector256(h3 + j), d0);
            var w1 = Avx.LoadVector256(w + j + 8);
            a1 = Fma.MultiplyAdd(w1, Avx.LoadVector256(h0 + j + 8), a1);
            b1 = Fma.MultiplyAdd(w1, Avx.LoadVector256(h1 + j + 8), b1);
            c1 = Fma.MultiplyAdd(w1, Avx.LoadVector256(h2 + j + 8), c1);
            d1 = Fma.MultiplyAdd(w1, Avx.LoadVector256(h3 + j + 8), d1);
            var w2 = Avx.LoadVector256(w + j + 16);
            a2 = Fma.MultiplyAdd(w2, Avx.LoadVector256(h0 + j + 16), a2);
            b2 = Fma.MultiplyAdd(w2, Avx.LoadVector256(h1 + j + 16), b2);
            c2 = Fma.MultiplyAdd(w2, Avx.LoadVector256(h2 + j + 16), c2);
            d2 = Fma.MultiplyAdd(w2, Avx.LoadVector256(h3 + j + 16), d2);
            var w3 = Avx.LoadVector256(w + j + 24);
            a3 = Fma.MultiplyAdd(w3, Avx.LoadVector256(h0 + j + 24), a3);
            b3 = Fma.MultiplyAdd(w3, Avx.LoadVector256(h1 + j + 24), b3);
            c3 = Fma.MultiplyAdd(w3, Avx.LoadVector256(h2 + j + 24), c3);
            d3 = Fma.MultiplyAdd(w3, Avx.LoadVector256(h3 + j + 24), d3);
        }

        float sa = Vector256.Sum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        float sb = Vector256.Sum(Avx.Add(Avx.Add(b0, b1), Avx.Add(b2, b3)));
        float sc = Vector256.Sum(Avx.Add(Avx.Add(c0, c1), Avx.Add(c2, c3)));
        float sd = Vector256.Sum(Avx.Add(Avx.Add(d0, d1), Avx.Add(d2, d3)));
        for (; j < columns; j++)
        {
            sa += w[j] * h0[j];
            sb += w[j] * h1[j];
            sc += w[j] * h2[j];
            sd += w[j] * h3[j];
        }

        output[0] = sa;
        output[outputStride] = sb;
        output[2L * outputStride] = sc;
        output[3L * outputStride] = sd;
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
