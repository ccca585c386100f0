using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Tests.Models;

/// <summary>Writes test values in the byte layout the managed kernels read (float32, float16 or bfloat16).</summary>
internal static class StoredElement
{
    /// <summary>
    /// Stores <paramref name="value"/> as element <paramref name="index"/> of <paramref name="bytes"/> in
    /// <paramref name="format"/> (float16 rounded to nearest, bfloat16 truncated) and returns the value stored, exactly.
    /// </summary>
    internal static double Write(Span<byte> bytes, int index, float value, WeightFormat format)
    {
        switch (format)
        {
            case WeightFormat.Float32:
                BitConverter.TryWriteBytes(bytes[(4 * index)..], value);
                return value;
            case WeightFormat.Float16:
                var half = (Half)value;
                BitConverter.TryWriteBytes(bytes[(2 * index)..], BitConverter.HalfToUInt16Bits(half));
                return (double)half;
            default:
                ushort brain = (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16);
                BitConverter.TryWriteBytes(bytes[(2 * index)..], brain);
                return BitConverter.UInt32BitsToSingle((uint)brain << 16);
        }
    }
}
