using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LmHead.Extensions.Decoding.Cpu;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Models;

/// <summary>
/// The element-wise and per-row parts of a managed Llama decode step on float32 activations: RMSNorm and SwiGLU, in
/// 8-lane vectors where AVX2 and FMA are present. Each reads one row at a time, so a row's result never depends on the
/// other rows of a batch.
/// </summary>
internal static unsafe class LlamaDecodeKernels
{
    /// <summary>
    /// <c>y = x / √(mean(x²) + ε) · weight</c> over one row: each square rounded to float32 and summed in float64 (two
    /// four-lane accumulators over steps of eight, then the leftover elements), the scale computed in float32.
    /// </summary>
    internal static void RmsNorm(float* x, float* y, int size, byte* weight, WeightFormat format, float epsilon)
    {
        int j = 0;
        double sum = 0;
        if (MatrixVectorKernel.IsAccelerated && size >= 8)
        {
            var low = Vector256<double>.Zero;
            var high = Vector256<double>.Zero;
            for (; j <= size - 8; j += 8)
            {
                var v = Avx.LoadVector256(x + j);
                var squares = Avx.Multiply(v, v);
                low = Avx.Add(low, Avx.ConvertToVector256Double(squares.GetLower()));
                high = Avx.Add(high, Avx.ConvertToVector256Double(squares.GetUpper()));
            }

            sum = Vector256.Sum(Avx.Add(low, high));
        }

        for (; j < size; j++)
        {
            sum += x[j] * x[j];
        }

        float scale = 1f / MathF.Sqrt((float)(sum / size) + epsilon);
        j = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            var s = Vector256.Create(scale);
            for (; j <= size - 8; j += 8)
            {
                Avx.Store(y + j, Avx.Multiply(Avx.Multiply(Avx.LoadVector256(x + j), s), Gpt2DecodeKernels.Load8(weight, j, format)));
            }
        }

        for (; j < size; j++)
        {
            y[j] = x[j] * scale * Gpt2DecodeKernels.Element(weight, j, format);
        }
    }

    /// <summary>
    /// SwiGLU in place: <c>gate = silu(gate) · up = gate / (1 + e^(-gate)) · up</c>, the exponential by
    /// <see cref="FastExp"/> (about 2 ulp; e^(-gate) clamped to e^88 gives about 0 for very negative gates).
    /// </summary>
    internal static void SwiGlu(float* gate, float* up, long count)
    {
        long j = 0;
        if (MatrixVectorKernel.IsAccelerated)
        {
            for (; j <= count - 8; j += 8)
            {
                var g = Avx.LoadVector256(gate + j);
                var silu = Avx.Divide(g, Avx.Add(Vector256<float>.One, FastExp.Exp(Vector256<float>.Zero - g)));
                Avx.Store(gate + j, Avx.Multiply(silu, Avx.LoadVector256(up + j)));
            }
        }

        for (; j < count; j++)
        {
            float g = gate[j];
            gate[j] = g / (1f + MathF.Exp(-g)) * up[j];
        }
    }
}
