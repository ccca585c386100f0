using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

/// <summary>The managed one-row paths of the ML.NET transforms give exactly the tensor stages' results.</summary>
[TestClass]
public sealed class ManagedRowsTests
{
    [TestMethod]
    [DataRow(0.7f)]
    [DataRow(1f)]
    [DataRow(0f)]
    [DataRow(1.3f)]
    [DataRow(1e-3f)]
    [DataRow(1e-20f)]
    [DataRow(1e-45f)]
    [DataRow(1e30f)]
    public void TemperatureMatchesTheTensorStageBitForBit(float temperature)
    {
        var scaler = new TemperatureScaler(temperature);
        // Rows near float.MaxValue too: the tensor stage scales them as (x - max) / T, and so must the ML.NET rows.
        var huge = new float[500];
        var random = new Random(23);
        for (int i = 0; i < huge.Length; i++)
        {
            huge[i] = (float)((random.NextDouble() * 2 - 1) * 3.4e38);
        }

        foreach (var row in Rows().Append(huge))
        {
            var managed = new float[row.Length];
            Assert.IsTrue(ManagedRows.TryScale(row, temperature, managed));
            AssertSame(Tensor(scaler.Apply, row), managed, $"T = {temperature}");
        }
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(5)]
    [DataRow(50)]
    [DataRow(199)]
    [DataRow(200)]
    [DataRow(1000)]
    public void TopKMatchesTheTensorStageBitForBitIncludingTies(int k)
    {
        var filter = new TopKFilter(k);
        foreach (var row in Rows())
        {
            var managed = new float[row.Length];
            Assert.IsTrue(ManagedRows.TryKeepTop(row, k, managed));
            AssertSame(Tensor(filter.Apply, row), managed, $"k = {k}");
        }
    }

    [TestMethod]
    public void SoftmaxEqualsDoublePrecisionAndAgreesWithTheTensorStage()
    {
        var softmax = new SoftmaxNormalizer();
        var filter = new TopKFilter(9);
        foreach (var logits in Rows())
        {
            foreach (var row in new[] { logits, Tensor(filter.Apply, logits) })
            {
                var managed = new float[row.Length];
                Assert.IsTrue(ManagedRows.TrySoftmax(row, managed));
                var expected = Tensor(softmax.Normalize, row);
                double max = row.Where(float.IsFinite).Max();
                double sum = row.Sum(x => float.IsNegativeInfinity(x) ? 0 : Math.Exp(x - max));
                for (int i = 0; i < row.Length; i++)
                {
                    double exact = float.IsNegativeInfinity(row[i]) ? 0 : Math.Exp(row[i] - max) / sum;
                    Assert.AreEqual(exact, managed[i], Math.Max(exact * 1e-7, 1e-45), $"against double precision, index {i}");
                    // libtorch rounds x - max to float32 before exp: up to about 1e-6 relative for logits far below the max.
                    Assert.AreEqual(expected[i], managed[i], Math.Max(expected[i] * 1e-5, 1e-44), $"against the tensor stage, index {i}");
                }
            }
        }
    }

    [TestMethod]
    [DataRow(1e-20f)]
    [DataRow(1e-45f)]
    public void TinyTemperaturesGiveAFiniteDistributionOnTheMaximum(float temperature)
    {
        float[] row = [float.MaxValue * 0.5f, float.MaxValue, 1f, float.NegativeInfinity, float.MaxValue];
        var scaled = new float[row.Length];
        var probabilities = new float[row.Length];
        Assert.IsTrue(ManagedRows.TryScale(row, temperature, scaled));
        Assert.IsTrue(ManagedRows.TrySoftmax(scaled, probabilities));
        CollectionAssert.AreEqual(new[] { 0f, 0.5f, 0f, 0f, 0.5f }, probabilities, "the two exact maxima share the mass");
    }

    [TestMethod]
    public void RowsTheTensorStagesRejectOrTreatSpeciallyAreLeftToThem()
    {
        var output = new float[4];
        Assert.IsFalse(ManagedRows.TryKeepTop([1f, float.NaN, 2f, 3f], 2, output));
        Assert.IsFalse(ManagedRows.TryKeepTop([1f, float.PositiveInfinity, 2f, 3f], 2, output));
        Assert.IsFalse(ManagedRows.TryScale([1f, float.NaN, 2f, 3f], 0f, output), "greedy over NaN");
        Assert.IsFalse(ManagedRows.TrySoftmax([1f, float.NaN, 2f, 3f], output));
        Assert.IsFalse(ManagedRows.TrySoftmax([1f, float.PositiveInfinity, 2f, 3f], output));
        Assert.IsFalse(ManagedRows.TrySoftmax([float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity], output));
        var random = new SamplingRandom(3);
        var reference = new SamplingRandom(3);
        Assert.IsFalse(ManagedRows.TrySampleOne([0.5f, -0.1f, 0.6f, 0f], random, out _, out _));
        Assert.IsFalse(ManagedRows.TrySampleOne([0.5f, float.NaN, 0.6f, 0f], random, out _, out _));
        Assert.IsFalse(ManagedRows.TrySampleOne([0f, 0f, 0f, 0f], random, out _, out _));
        Assert.AreEqual(reference.NextDouble(), random.NextDouble(), "a rejected row must not consume a uniform");
    }

    [TestMethod]
    public void SampledIdsAndProbabilitiesMatchTheTensorSampler()
    {
        // 3,000 draws over softmax rows of several sharpnesses, top-k-filtered rows (zeros) and rows with trailing zeros.
        var sampler = new MultinomialSampler(sampleCount: 1, seed: 0);
        var softmax = new SoftmaxNormalizer();
        var filter = new TopKFilter(7);
        int draws = 0;
        foreach (var logits in Rows())
        {
            foreach (var weights in new[] { Tensor(softmax.Normalize, logits), Tensor(l => softmax.Normalize(filter.Apply(l)), logits) })
            {
                for (ulong stream = 0; stream < 60; stream++)
                {
                    using var scope = NewDisposeScope();
                    using var expected = sampler.Sample(tensor(weights), SamplingRandom.ForStream(99, stream));
                    Assert.IsTrue(ManagedRows.TrySampleOne(weights, SamplingRandom.ForStream(99, stream), out int id, out float probability));
                    Assert.AreEqual(expected.Ids[0].item<long>(), id, $"stream {stream}");
                    Assert.AreEqual(expected.Probabilities[0].item<float>(), probability, 1e-7f * Math.Max(1f, probability), $"stream {stream}");
                    draws++;
                }
            }
        }

        Assert.IsGreaterThanOrEqualTo(3000, draws);
    }

    private static IEnumerable<float[]> Rows()
    {
        var random = new Random(17);
        for (int r = 0; r < 25; r++)
        {
            int n = r % 5 == 0 ? 200 : 50 + random.Next(2000);
            var row = new float[n];
            for (int i = 0; i < n; i++)
            {
                row[i] = (float)((random.NextDouble() - 0.5) * (r % 3 == 0 ? 40 : 4));
            }

            if (r % 4 == 1)
            {
                // Heavy ties: values from a handful of levels.
                for (int i = 0; i < n; i++)
                {
                    row[i] = random.Next(5) * 0.25f;
                }
            }

            if (r % 6 == 2)
            {
                for (int i = 0; i < n; i += 3)
                {
                    row[i] = float.NegativeInfinity;
                }
            }

            yield return row;
        }

        yield return Enumerable.Repeat(2.5f, 300).ToArray();
    }

    private static float[] Tensor(Func<Tensor, Tensor> stage, float[] row)
    {
        using var scope = NewDisposeScope();
        return stage(tensor(row)).data<float>().ToArray();
    }

    private static void AssertSame(float[] expected, float[] actual, string what)
    {
        Assert.HasCount(expected.Length, actual);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(actual[i]), $"{what}, index {i}: expected {expected[i]}, got {actual[i]}");
        }
    }
}
