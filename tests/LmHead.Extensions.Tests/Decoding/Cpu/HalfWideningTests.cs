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
}
