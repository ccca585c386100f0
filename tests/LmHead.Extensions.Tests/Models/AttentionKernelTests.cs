using LmHead.Extensions.Models;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Tests.Models;

/// <summary>
/// <see cref="Gpt2DecodeKernels.Attend"/> (four positions side by side, output in registers, float16 widened by a shift)
/// against the reference order <see cref="Gpt2DecodeKernels.AttendInOrder"/> bit for bit, and against a float64 loop.
/// </summary>
[TestClass]
public sealed unsafe class AttentionKernelTests
{
    private static readonly int[] Counts = [1, 2, 3, 4, 5, 8, 17, 64, 130];

    private static readonly int[] HeadSizes = [1, 3, 7, 8, 12, 64, 72, 136];

    /// <summary>A cache of <paramref name="rows"/> rows of <paramref name="headSize"/> values in <paramref name="format"/>, and their exact values.</summary>
    private static (byte[] Bytes, double[] Values) Cache(WeightFormat format, int rows, int headSize, Random random, bool subnormals)
    {
        int size = rows * headSize;
        var bytes = new byte[size * (format == WeightFormat.Float32 ? 4 : 2)];
        var values = new double[size];
        for (int i = 0; i < size; i++)
        {
            // Mostly O(1) values; with subnormals, every fifth one is a float16 subnormal (or a tiny value for the other dtypes).
            float v = subnormals && i % 5 == 0 ? (float)((random.NextDouble() - 0.5) * 1e-5) : (float)((random.NextDouble() - 0.5) * 4);
            values[i] = StoredElement.Write(bytes, i, v, format);
        }

        return (bytes, values);
    }

    private static float[] Run(bool inOrder, float[] query, byte[] keys, byte[] values, int count, int headSize, WeightFormat format, bool[]? padding, bool exactWidening = false)
    {
        var scores = new float[(count + 7) & ~7];
        var output = new float[headSize];
        fixed (float* q = query, s = scores, o = output)
        fixed (byte* k = keys, v = values)
        {
            if (inOrder)
            {
                Gpt2DecodeKernels.AttendInOrder(q, k, v, count, headSize, format, padding, s, o);
            }
            else
            {
                Gpt2DecodeKernels.Attend(q, k, v, count, headSize, format, padding, s, o, exactWidening);
            }
        }

        return output;
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(BitConverter.SingleToUInt32Bits(expected[i]), BitConverter.SingleToUInt32Bits(actual[i]), $"{what}, column {i}: {expected[i]} vs {actual[i]}");
        }
    }

    [TestMethod]
    [DataRow("Float32")]
    [DataRow("Float16")]
    [DataRow("BFloat16")]
    public void GivesTheReferenceOrdersBitsForEveryCountAndHeadSize(string formatName)
    {
        var format = Enum.Parse<WeightFormat>(formatName);
        var random = new Random(7);
        foreach (int headSize in HeadSizes)
        {
            foreach (int count in Counts)
            {
                foreach (bool subnormals in new[] { false, true })
                {
                    var (keys, _) = Cache(format, count, headSize, random, subnormals);
                    var (values, _) = Cache(format, count, headSize, random, subnormals);
                    var query = Enumerable.Range(0, headSize).Select(_ => (float)(random.NextDouble() - 0.5) * 3).ToArray();
                    bool[]? padding = count > 2 ? [.. Enumerable.Range(0, count).Select(s => s < count / 3)] : null;
                    var expected = Run(true, query, keys, values, count, headSize, format, padding);
                    AssertSameBits(expected, Run(false, query, keys, values, count, headSize, format, padding), $"{format} hd {headSize} count {count}");
                    AssertSameBits(expected, Run(false, query, keys, values, count, headSize, format, padding, exactWidening: true), $"{format} exact hd {headSize} count {count}");
                }
            }
        }
    }

    [TestMethod]
    [DataRow("Float32")]
    [DataRow("Float16")]
    [DataRow("BFloat16")]
    public void MatchesAFloat64Softmax(string formatName)
    {
        var format = Enum.Parse<WeightFormat>(formatName);
        var random = new Random(11);
        const int HeadSize = 64, Count = 37;
        var (keys, k) = Cache(format, Count, HeadSize, random, subnormals: false);
        var (values, v) = Cache(format, Count, HeadSize, random, subnormals: false);
        var query = Enumerable.Range(0, HeadSize).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var weights = Enumerable.Range(0, Count).Select(s => Enumerable.Range(0, HeadSize).Sum(i => query[i] * k[(s * HeadSize) + i]) / Math.Sqrt(HeadSize)).ToArray();
        double max = weights.Max();
        var exp = weights.Select(w => Math.Exp(w - max)).ToArray();
        double total = exp.Sum();
        var actual = Run(false, query, keys, values, Count, HeadSize, format, padding: null);
        for (int i = 0; i < HeadSize; i++)
        {
            double expected = Enumerable.Range(0, Count).Sum(s => exp[s] * v[(s * HeadSize) + i]) / total;
            Assert.AreEqual(expected, actual[i], 1e-5, $"column {i}");
        }
    }

    [TestMethod]
    [DataRow((ushort)0x7C00, "key", 5)]
    [DataRow((ushort)0xFC00, "key", 70)]
    [DataRow((ushort)0xFC00, "value", 5)]
    [DataRow((ushort)0x7E00, "value", 99)]
    [DataRow((ushort)0xFE01, "key", 40)]
    [DataRow((ushort)0x7C00, "value", 31)]
    public void AFloat16CacheWithAnInfinityOrNaNTakesTheExactWidening(ushort special, string where, int row)
    {
        // The shift-and-mask widening reads exponent 31 as a finite number: the kernel must see it and widen that row's
        // chunk exactly (the other chunks keep the shortcut).
        var random = new Random(3);
        const int HeadSize = 64, Count = 100;
        var (keys, _) = Cache(WeightFormat.Float16, Count, HeadSize, random, subnormals: false);
        var (values, _) = Cache(WeightFormat.Float16, Count, HeadSize, random, subnormals: false);
        var target = where == "key" ? keys : values;
        BitConverter.TryWriteBytes(target.AsSpan(2 * ((row * HeadSize) + 21)), special);
        var query = Enumerable.Range(0, HeadSize).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        query[21] = 0.5f; // a positive infinity in the key then gives a score of +∞ (and NaN outputs), a negative one -∞
        var expected = Run(true, query, keys, values, Count, HeadSize, WeightFormat.Float16, padding: null);
        Assert.IsTrue(special == 0xFC00 && where == "key" || expected.Any(x => !float.IsFinite(x)), "the reference sees the special value");
        AssertSameBits(expected, Run(false, query, keys, values, Count, HeadSize, WeightFormat.Float16, padding: null), $"0x{special:X4} in a {where}");
    }

    [TestMethod]
    [DataRow(65536f)]
    [DataRow(-1e30f)]
    [DataRow(float.PositiveInfinity)]
    [DataRow(float.NaN)]
    public void AQueryTooLargeToPrescaleTakesTheExactWidening(float large)
    {
        var random = new Random(5);
        const int HeadSize = 24, Count = 6;
        var (keys, _) = Cache(WeightFormat.Float16, Count, HeadSize, random, subnormals: true);
        var (values, _) = Cache(WeightFormat.Float16, Count, HeadSize, random, subnormals: true);
        var query = Enumerable.Range(0, HeadSize).Select(_ => (float)(random.NextDouble() - 0.5) * 1e-3f).ToArray();
        query[HeadSize - 1] = large;
        var expected = Run(true, query, keys, values, Count, HeadSize, WeightFormat.Float16, padding: null);
        AssertSameBits(expected, Run(false, query, keys, values, Count, HeadSize, WeightFormat.Float16, padding: null), $"query element {large}");
    }
}
