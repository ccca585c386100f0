using LmHead.Extensions.Decoding.Cpu;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed class HalfNarrowingTests
{
    /// <summary>
    /// About 1.1 million float32 bit patterns: a stride through all 2^32 (both signs, every exponent, NaNs), every pattern
    /// around the float16 and bfloat16 rounding points of a few exponents (ties included), and the edges of the float16
    /// range (largest finite, overflow threshold, smallest subnormal, underflow to zero).
    /// </summary>
    private static float[] Samples()
    {
        var bits = new List<uint>();
        for (ulong b = 0; b <= uint.MaxValue; b += 4099)
        {
            bits.Add((uint)b);
        }

        foreach (uint exponent in new uint[] { 0x00, 0x66, 0x67, 0x70, 0x71, 0x7F, 0x8E, 0x8F, 0xFE })
        {
            for (uint low = 0; low < 0x20000; low += 7)
            {
                bits.Add((exponent << 23) | low);
                bits.Add(0x80000000u | (exponent << 23) | 0x7F0000u | low);
            }

            bits.Add((exponent << 23) | 0x1000);
            bits.Add((exponent << 23) | 0x3000);
            bits.Add((exponent << 23) | 0x8000);
            bits.Add((exponent << 23) | 0x18000);
        }

        bits.AddRange([0x477FE000u, 0x477FEFFFu, 0x477FF000u, 0x477FF001u, 0x47800000u, 0x33800000u, 0x33000000u, 0x33000001u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F800001u]);
        return [.. bits.Select(BitConverter.UInt32BitsToSingle)];
    }

    [TestMethod]
    public unsafe void RoundsToFloat16LikeTheBaseClassLibrary()
    {
        var values = Samples();
        var actual = new ushort[values.Length];
        fixed (float* source = values)
        fixed (ushort* target = actual)
        {
            HalfNarrowing.Narrow(source, target, values.Length, brain: false);
        }

        for (int i = 0; i < values.Length; i++)
        {
            var expected = (Half)values[i];
            var got = BitConverter.UInt16BitsToHalf(actual[i]);
            bool same = Half.IsNaN(expected) ? Half.IsNaN(got) : BitConverter.HalfToUInt16Bits(expected) == actual[i];
            Assert.IsTrue(same, $"0x{BitConverter.SingleToUInt32Bits(values[i]):X8} ({values[i]}): expected 0x{BitConverter.HalfToUInt16Bits(expected):X4}, got 0x{actual[i]:X4}");
        }
    }

    [TestMethod]
    public unsafe void RoundsToBFloat16ToNearestEven()
    {
        var values = Samples();
        var actual = new ushort[values.Length];
        fixed (float* source = values)
        fixed (ushort* target = actual)
        {
            HalfNarrowing.Narrow(source, target, values.Length, brain: true);
        }

        for (int i = 0; i < values.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(values[i]);
            if (float.IsNaN(values[i]))
            {
                Assert.IsTrue(float.IsNaN(BitConverter.UInt32BitsToSingle((uint)actual[i] << 16)), $"0x{bits:X8}: NaN must stay NaN, got 0x{actual[i]:X4}");
                continue;
            }

            // Nearest of the two bfloat16 neighbours; on a tie the one with an even last bit.
            uint below = bits >> 16, remainder = bits & 0xFFFF;
            uint expected = remainder > 0x8000 || (remainder == 0x8000 && (below & 1) == 1) ? below + 1 : below;
            Assert.AreEqual((ushort)expected, actual[i], $"0x{bits:X8} ({values[i]})");
        }
    }
}
