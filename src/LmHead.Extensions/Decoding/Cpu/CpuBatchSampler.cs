using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// Runs <see cref="CpuRowSampler"/> over the rows of a float32 CPU tensor, reading the tensor's memory in place (float16
/// and bfloat16 rows are widened once into a pooled float32 buffer, <see cref="HalfRows"/>).
/// </summary>
/// <remarks>
/// Reproducibility across batching: the uniforms are drawn from the caller's generator in row order before any row is
/// processed (exactly the sequence the tensor path draws), and rows then run in parallel on all cores. So a batch gives
/// the same tokens as the same rows decoded one at a time with the same generator, whatever the thread count.
/// </remarks>
internal static class CpuBatchSampler
{
    /// <summary>Below this many logits in a batch, threads cost more than they save.</summary>
    private const long ParallelThreshold = 1 << 16;

    /// <summary>Whether the fast path applies: float32, float16 or bfloat16 logits in CPU memory (other devices stay on the tensor path, never copied here).</summary>
    public static bool Supports(Tensor logits) =>
        logits.device_type == DeviceType.CPU && SupportsType(logits.dtype) && logits.dim() is 1 or 2 && logits.size(-1) > 0;

    /// <summary>Whether the fast path reads logits of <paramref name="dtype"/>: float32, float16 or bfloat16.</summary>
    public static bool SupportsType(ScalarType dtype) => dtype == ScalarType.Float32 || HalfRows.IsHalf(dtype);

    /// <summary>Samples a single contiguous-or-not row <c>[V]</c> (float32, float16 or bfloat16, CPU, V &gt; 0, as the caller checked) with <paramref name="sampler"/>.</summary>
    /// <returns>The result, or <see langword="null"/> when the row is invalid (the tensor path then reports the error).</returns>
    public static NextTokenResult? SampleRow(Tensor row, CpuRowSampler sampler, double u, TokenHistory? history, LogProbabilityRequest? logProbabilities = null)
    {
        using var copy = row.is_contiguous() ? null : row.contiguous();
        var contiguous = copy ?? row;
        if (!HalfRows.IsHalf(contiguous.dtype))
        {
            return sampler.Sample(MemoryMarshal.Cast<byte, float>(contiguous.bytes), u, history, logProbabilities);
        }

        return sampler.Sample(RowInBuffer(contiguous, sampler), u, history, logProbabilities);
    }

    /// <summary>
    /// The float32 values of a contiguous float32, float16 or bfloat16 row <c>[V]</c> in <paramref name="sampler"/>'s own
    /// row buffer (half precision widened exactly, float32 copied): a copy the caller may change, in memory that stays in
    /// cache call after call. The sampler serves one call at a time, so the buffer is the call's.
    /// </summary>
    public static Span<float> RowInBuffer(Tensor contiguous, CpuRowSampler sampler)
    {
        if (!HalfRows.IsHalf(contiguous.dtype))
        {
            var floats = MemoryMarshal.Cast<byte, float>(contiguous.bytes);
            var copy = sampler.RowBuffer(floats.Length);
            floats.CopyTo(copy);
            return copy;
        }

        var bits = MemoryMarshal.Cast<byte, ushort>(contiguous.bytes);
        var row = sampler.RowBuffer(bits.Length);
        HalfRows.Widen(bits, row, contiguous.dtype == ScalarType.BFloat16);
        return row;
    }

    /// <summary>Samples every row of <paramref name="rows"/> (<c>[V]</c> or <c>[B, V]</c>, float32, float16 or bfloat16, CPU).</summary>
    /// <param name="rows">The logits.</param>
    /// <param name="plan">The stages.</param>
    /// <param name="candidateCount">Candidates reported per row.</param>
    /// <param name="uniforms">One uniform per row (empty when greedy).</param>
    /// <param name="history">The tokens seen so far (the same for every row), or <see langword="null"/>.</param>
    /// <returns>One result per row, or <see langword="null"/> when a row is invalid (the tensor path then reports the error).</returns>
    public static unsafe NextTokenResult[]? Sample(Tensor rows, CpuSamplingPlan plan, int candidateCount, double[] uniforms, TokenHistory? history)
    {
        // No new tensor handle unless a copy is needed: each handle costs a native allocation and a finalizer.
        using var copy = rows.is_contiguous() ? null : rows.contiguous();
        var contiguous = copy ?? rows;
        // size() rather than shape: one native call each instead of TorchSharp's array-building shape property.
        int batch = contiguous.dim() == 1 ? 1 : checked((int)contiguous.size(0));
        int vocabulary = checked((int)contiguous.size(-1));
        var data = HalfRows.Floats(contiguous, out float[]? rented);
        var results = new NextTokenResult?[batch];
        bool invalid = false;
        fixed (float* start = data)
        {
            nint address = (nint)start;
            if (batch > 1 && (long)batch * vocabulary >= ParallelThreshold && Environment.ProcessorCount > 1)
            {
                Parallel.For(0, batch, () => new CpuRowSampler(plan, candidateCount), (row, _, sampler) =>
                {
                    results[row] = SampleRow(sampler, address, row, vocabulary, plan, uniforms, history);
                    return sampler;
                }, _ => { });
            }
            else
            {
                var sampler = new CpuRowSampler(plan, candidateCount);
                for (int row = 0; row < batch; row++)
                {
                    results[row] = SampleRow(sampler, address, row, vocabulary, plan, uniforms, history);
                }
            }
        }

        if (rented is not null)
        {
            System.Buffers.ArrayPool<float>.Shared.Return(rented);
        }

        foreach (var result in results)
        {
            invalid |= result is null;
        }

        return invalid ? null : Array.ConvertAll(results, r => r!);
    }

    private static unsafe NextTokenResult? SampleRow(CpuRowSampler sampler, nint address, int row, int vocabulary, CpuSamplingPlan plan, double[] uniforms, TokenHistory? history)
    {
        var span = new ReadOnlySpan<float>((float*)address + (long)row * vocabulary, vocabulary);
        return sampler.Sample(span, plan.IsGreedy ? 0 : uniforms[row], history);
    }
}
