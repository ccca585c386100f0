using LmHead.Extensions.Decoding.Cpu;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed unsafe class HalfWideningTests
{
    /// <summary>The definition of the reordered copy: each group's even-indexed values, then its odd-indexed ones, times the scale.</summary>
    private static float[] PlainReorder(float[] hidden, int group, float scale)
    {
        var ordered = new float[hidden.Length];
        for (int start = 0; start + group <= hidden.Length; start += group)
        {
            for (int i = 0; i < group / 2; i++)
            {
                ordered[start + i] = hidden[start + (2 * i)] * scale;
                ordered[start + (group / 2) + i] = hidden[start + (2 * i) + 1] * scale;
            }
        }

        return ordered;
    }

    [TestMethod]
    [DataRow(16, false)]
    [DataRow(16, true)]
    [DataRow(32, false)]
    [DataRow(32, true)]
    public void ReorderEqualsThePlainDefinitionBitForBit(int group, bool prescale)
    {
        var random = new Random(19);
        foreach (int count in new[] { 16, 31, 32, 33, 100, 768, 3072 + 21 })
        {
            // Signed values over many exponents, subnormals and zeros of both signs included.
            var hidden = Enumerable.Range(0, count).Select(i => i % 17 == 0 ? (i % 2 == 0 ? 0f : -0f) : (float)((random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-140, 16)))).ToArray();
            var expected = PlainReorder(hidden, group, prescale ? BitConverter.UInt32BitsToSingle(0x77800000u) : 1f);
            var actual = new float[count];
            fixed (float* h = hidden, o = actual)
            {
                HalfWidening.Reorder(h, o, count, prescale, group);
            }

            for (int i = 0; i < count - (count % group); i++)
            {
                Assert.AreEqual(BitConverter.SingleToUInt32Bits(expected[i]), BitConverter.SingleToUInt32Bits(actual[i]), $"count {count}, index {i}");
            }
        }
    }

    [TestMethod]
    public void CanPrescaleIsFalseExactlyWhenSomeMagnitudeReachesTwoToTheSixteen()
    {
        float below = BitConverter.UInt32BitsToSingle(0x477FFFFFu);
        foreach (int count in new[] { 1, 7, 8, 9, 24, 768, 771 })
        {
            var hidden = Enumerable.Range(0, count).Select(i => (i % 3) - 1f).ToArray();
            Assert.IsTrue(Check(hidden), $"count {count}: small values");
            for (int at = 0; at < count; at += Math.Max(1, count / 5))
            {
                foreach (float value in new[] { below, -below })
                {
                    Assert.IsTrue(Check(With(hidden, at, value)), $"count {count}: {value} at {at}");
                }

                foreach (float value in new[] { 65536f, -65536f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -float.NaN, float.MaxValue })
                {
                    Assert.IsFalse(Check(With(hidden, at, value)), $"count {count}: {value} at {at}");
                }
            }

            // The last element alone (the scalar tail when count is not a multiple of 8).
            Assert.IsFalse(Check(With(hidden, count - 1, float.NaN)), $"count {count}: NaN last");
        }

        static float[] With(float[] values, int at, float value)
        {
            var copy = (float[])values.Clone();
            copy[at] = value;
            return copy;
        }

        static bool Check(float[] values)
        {
            fixed (float* h = values)
            {
                return HalfWidening.CanPrescale(h, values.Length);
            }
        }
    }
    [TestMethod]
    public void FindsAnInfinityOrNaNAnywhereInABlockOfFloat16Values()
    {
        ushort[] specials = [0x7C00, 0xFC00, 0x7C01, 0x7E00, 0xFFFF, 0x7FFF];
        foreach (int count in new[] { 0, 1, 15, 16, 17, 33, 100 })
        {
            // The largest finite values of both signs and subnormals, which must not count.
            var bits = Enumerable.Range(0, count).Select(i => (ushort)(i % 4 switch { 0 => 0x7BFF, 1 => 0xFBFF, 2 => 0x0001, _ => 0x8000 })).ToArray();
            fixed (ushort* b = bits)
            {
                Assert.IsFalse(HalfWidening.HasInfinityOrNaN(b, count), $"finite, count {count}");
            }

            for (int at = 0; at < count; at++)
            {
                ushort kept = bits[at];
                bits[at] = specials[at % specials.Length];
                fixed (ushort* b = bits)
                {
                    Assert.IsTrue(HalfWidening.HasInfinityOrNaN(b, count), $"0x{bits[at]:X4} at {at} of {count}");
                }

                bits[at] = kept;
            }
        }
    }

    [TestMethod]
    public void Float16UnscaledTimes2To112IsTheExactWideningForEveryFiniteValue()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            Assert.Inconclusive("Float16Unscaled needs AVX2.");
        }

        var buffer = new ushort[8];
        for (int start = 0; start < 0x10000; start += 8)
        {
            for (int i = 0; i < 8; i++)
            {
                buffer[i] = (ushort)(start + i);
            }

            fixed (ushort* b = buffer)
            {
                var unscaled = HalfWidening.Float16Unscaled(b);
                for (int i = 0; i < 8; i++)
                {
                    var half = BitConverter.UInt16BitsToHalf(buffer[i]);
                    if (Half.IsFinite(half))
                    {
                        Assert.AreEqual(BitConverter.SingleToUInt32Bits((float)half), BitConverter.SingleToUInt32Bits(unscaled[i] * HalfWidening.BiasDifference), $"0x{buffer[i]:X4}");
                        Assert.AreEqual(BitConverter.SingleToUInt32Bits((float)half * HalfWidening.InverseBiasDifference), BitConverter.SingleToUInt32Bits(unscaled[i]), $"0x{buffer[i]:X4} scaled down");
                    }
                }
            }
        }
    }
}
