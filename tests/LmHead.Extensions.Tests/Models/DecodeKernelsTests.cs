using LmHead.Extensions.Models;
using WeightFormat = LmHead.Extensions.Decoding.Cpu.MatrixVectorKernel.WeightFormat;

namespace LmHead.Extensions.Tests.Models;

/// <summary>The per-row parts of the managed GPT-2 and Llama steps against float64 loops.</summary>
[TestClass]
public sealed unsafe class DecodeKernelsTests
{
    private static readonly int[] Sizes = [1, 7, 8, 13, 100, 768, 896];

    /// <summary>Parameters of <paramref name="size"/> elements in <paramref name="format"/>, and their exact float32 values.</summary>
    private static (byte[] Bytes, double[] Values) Parameters(WeightFormat format, int size, Random random, double centre)
    {
        var bytes = new byte[size * (format == WeightFormat.Float32 ? 4 : 2)];
        var values = new double[size];
        for (int i = 0; i < size; i++)
        {
            float v = (float)(centre + random.NextDouble() - 0.5);
            values[i] = StoredElement.Write(bytes, i, v, format);
        }

        return (bytes, values);
    }

    [TestMethod]
    [DataRow("Float32")]
    [DataRow("Float16")]
    [DataRow("BFloat16")]
    public void LayerNormMatchesAFloat64Loop(string formatName)
    {
        var format = Enum.Parse<WeightFormat>(formatName);
        var random = new Random(23);
        foreach (int size in Sizes.Where(s => s > 1))
        {
            // A large common offset: the variance must be taken around the mean, not from E[x²] - mean².
            var x = Enumerable.Range(0, size).Select(_ => (float)(300 + (random.NextDouble() * 4) - 2)).ToArray();
            var (weight, w) = Parameters(format, size, random, 1);
            var (bias, b) = Parameters(format, size, random, 0);
            var y = new float[size];
            fixed (float* px = x, py = y)
            fixed (byte* pw = weight, pb = bias)
            {
                Gpt2DecodeKernels.LayerNorm(px, py, size, pw, pb, format, 1e-5);
            }

            double mean = x.Sum(v => (double)v) / size;
            double variance = x.Sum(v => (v - mean) * (v - mean)) / size;
            for (int i = 0; i < size; i++)
            {
                double expected = ((x[i] - mean) / Math.Sqrt(variance + 1e-5) * w[i]) + b[i];
                Assert.AreEqual(expected, y[i], 2e-5 * (1 + Math.Abs(expected)), $"size {size}, element {i}");
            }
        }
    }

    [TestMethod]
    [DataRow("Float32")]
    [DataRow("Float16")]
    [DataRow("BFloat16")]
    public void RmsNormMatchesAFloat64Loop(string formatName)
    {
        var format = Enum.Parse<WeightFormat>(formatName);
        var random = new Random(29);
        foreach (int size in Sizes)
        {
            var x = Enumerable.Range(0, size).Select(_ => (float)((random.NextDouble() - 0.5) * 8)).ToArray();
            var (weight, w) = Parameters(format, size, random, 1);
            var y = new float[size];
            fixed (float* px = x, py = y)
            fixed (byte* pw = weight)
            {
                LlamaDecodeKernels.RmsNorm(px, py, size, pw, format, 1e-6f);
            }

            double scale = 1 / Math.Sqrt((x.Sum(v => (double)v * v) / size) + 1e-6);
            for (int i = 0; i < size; i++)
            {
                double expected = x[i] * scale * w[i];
                Assert.AreEqual(expected, y[i], 1e-5 * (1 + Math.Abs(expected)), $"size {size}, element {i}");
            }
        }
    }

    [TestMethod]
    public void SwiGluMatchesAFloat64LoopOverTheWholeRange()
    {
        var random = new Random(31);
        // Gates from -200 (e^200 overflows float32) to 200, and the ones around zero densely.
        var gates = Enumerable.Range(0, 4001).Select(i => (float)((i - 2000) / 10.0)).Concat(Enumerable.Range(0, 999).Select(_ => (float)(random.NextDouble() - 0.5))).ToArray();
        var ups = gates.Select(_ => (float)((random.NextDouble() * 4) - 2)).ToArray();
        var result = (float[])gates.Clone();
        fixed (float* g = result, u = ups)
        {
            LlamaDecodeKernels.SwiGlu(g, u, result.Length);
        }

        for (int i = 0; i < gates.Length; i++)
        {
            double expected = gates[i] / (1 + Math.Exp(-(double)gates[i])) * ups[i];
            Assert.AreEqual(expected, result[i], (1e-6 * Math.Abs(expected)) + 1e-30, $"gate {gates[i]}, up {ups[i]}");
        }
    }

    [TestMethod]
    [DataRow("Float32")]
    [DataRow("Float16")]
    [DataRow("BFloat16")]
    public void EmbeddingSumAndResidualAddAreExact(string formatName)
    {
        var format = Enum.Parse<WeightFormat>(formatName);
        var random = new Random(37);
        foreach (int size in Sizes)
        {
            var (a, av) = Parameters(format, size, random, 0);
            var (b, bv) = Parameters(format, size, random, 0);
            var sum = new float[size];
            var widened = new float[size];
            fixed (byte* pa = a, pb = b)
            fixed (float* ps = sum, pw = widened)
            {
                Gpt2DecodeKernels.AddElements(pa, pb, ps, size, format);
                Gpt2DecodeKernels.Widen(pa, pw, size, format);
                Gpt2DecodeKernels.AddInPlace(pw, ps, size);
            }

            for (int i = 0; i < size; i++)
            {
                float expectedSum = (float)av[i] + (float)bv[i];
                Assert.AreEqual(expectedSum, sum[i], $"size {size}, element {i}: sum");
                Assert.AreEqual((float)av[i] + expectedSum, widened[i], $"size {size}, element {i}: widened plus sum");
            }
        }
    }
}
