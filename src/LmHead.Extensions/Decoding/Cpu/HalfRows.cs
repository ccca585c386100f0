using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace LmHead.Extensions.Decoding.Cpu;

/// <summary>
/// float16 and bfloat16 logits for the CPU sampler: widened once into a pooled float32 buffer (exactly: every half value
/// is a float32 value, infinities and NaN included), so the sampler and its rules are the float32 ones. The tensor path
/// samples such logits in float32 too (<see cref="DecodingPipeline"/>), so both paths choose the same tokens.
/// </summary>
internal static unsafe class HalfRows
{
    /// <summary>Whether <paramref name="dtype"/> is float16 or bfloat16.</summary>
    public static bool IsHalf(ScalarType dtype) => dtype is ScalarType.Float16 or ScalarType.BFloat16;

    /// <summary>
    /// The float32 values of a contiguous float32, float16 or bfloat16 tensor: its own memory for float32, else a buffer
    /// rented from <see cref="ArrayPool{T}.Shared"/> into <paramref name="rented"/> (return it when done).
    /// </summary>
    public static ReadOnlySpan<float> Floats(Tensor contiguous, out float[]? rented)
    {
        rented = null;
        if (!IsHalf(contiguous.dtype))
        {
            return MemoryMarshal.Cast<byte, float>(contiguous.bytes);
        }

        var bits = MemoryMarshal.Cast<byte, ushort>(contiguous.bytes);
        rented = ArrayPool<float>.Shared.Rent(bits.Length);
        var output = rented.AsSpan(0, bits.Length);
        Widen(bits, output, contiguous.dtype == ScalarType.BFloat16);
        return output;
    }

    /// <summary>Widens float16 (or, with <paramref name="brain"/>, bfloat16) bits to float32, 16 at a time with AVX-512, else 8 with AVX2.</summary>
    public static void Widen(ReadOnlySpan<ushort> bits, Span<float> output, bool brain)
    {
        if (output.Length < bits.Length)
        {
            throw new ArgumentException($"output holds {output.Length} values but {bits.Length} are widened.", nameof(output));
        }

        int i = 0;
        fixed (ushort* source = bits)
        fixed (float* target = output)
        {
            if (MatrixVectorKernel.IsWideAccelerated)
            {
                for (; i <= bits.Length - 16; i += 16)
                {
                    var wide = brain ? HalfWidening.BFloat16Wide(source + i) : HalfWidening.Float16Wide(source + i);
                    wide.Store(target + i);
                }
            }

            if (MatrixVectorKernel.IsAccelerated)
            {
                for (; i <= bits.Length - 8; i += 8)
                {
                    var wide = brain ? HalfWidening.BFloat16(source + i) : HalfWidening.Float16(source + i);
                    wide.Store(target + i);
                }
            }

            for (; i < bits.Length; i++)
            {
                target[i] = brain ? HalfWidening.BFloat16(source[i]) : (float)BitConverter.UInt16BitsToHalf(source[i]);
            }
        }
    }
}
