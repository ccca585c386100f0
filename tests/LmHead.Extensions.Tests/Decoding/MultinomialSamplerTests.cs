using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

[TestClass]
public sealed class MultinomialSamplerTests
{
    private const int Draws = 100_000;

    private static long[] DrawMany(float[] probabilities, ulong seed, int draws = Draws)
    {
        // One batch of identical rows: each row consumes one uniform, exactly as repeated single-row calls would.
        using var rows = tensor(probabilities).unsqueeze(0).expand(draws, probabilities.Length).contiguous();
        using var samples = new MultinomialSampler(seed: seed).Sample(rows);
        return samples.Ids.cpu().data<long>().ToArray();
    }

    [TestMethod]
    [DataRow(0.7f, 5)]
    [DataRow(1.0f, 12)]
    [DataRow(1.8f, 3)]
    [DataRow(0.3f, 20)]
    public void DrawsMatchSoftmaxOfTopKOfScaledLogitsByChiSquare(float temperature, int k)
    {
        var logits = Reference.RandomLogits(new Random(42), 20, 2f);
        var expected = Reference.Softmax(Reference.TopK(Reference.Scale(logits, temperature), k));
        using var probabilities = new SoftmaxNormalizer().Normalize(new TopKFilter(k).Apply(new TemperatureScaler(temperature).Apply(logits.ToTensor())));

        var ids = DrawMany(probabilities.ToFloats(), seed: 2024);
        var counts = new long[logits.Length];
        foreach (var id in ids)
        {
            Assert.IsTrue(float.IsFinite(Reference.TopK(logits, k)[id]), $"token {id} is outside the top {k}");
            counts[id]++;
        }

        int cells = expected.Count(p => p > 0);
        double chi = Reference.ChiSquare(counts, [.. expected.Select(p => (double)p)], Draws);
        double critical = Reference.ChiSquareCritical001(cells - 1);
        Assert.IsLessThan(critical, chi, $"chi-square {chi:F1} over {cells - 1} degrees of freedom");
    }

    [TestMethod]
    public void ChiSquareRejectsAWrongDistribution()
    {
        // The test above must be able to fail: draws from p do not pass as draws from a shifted q.
        float[] p = [0.1f, 0.2f, 0.3f, 0.4f];
        double[] q = [0.12, 0.2, 0.3, 0.38];
        var ids = DrawMany(p, seed: 5);
        var counts = new long[4];
        foreach (var id in ids)
        {
            counts[id]++;
        }

        Assert.IsGreaterThan(Reference.ChiSquareCritical001(3), Reference.ChiSquare(counts, q, Draws));
    }

    [TestMethod]
    public void DrawsPairsWithoutReplacementWithSequentialProbabilities()
    {
        float[] p = [0.4f, 0.3f, 0.2f, 0.1f];
        const int draws = 60_000;
        using var rows = tensor(p).unsqueeze(0).expand(draws, 4).contiguous();
        using var samples = new MultinomialSampler(sampleCount: 2, seed: 9).Sample(rows);
        var ids = samples.Ids.cpu().data<long>().ToArray();
        var counts = new long[16];
        var expected = new double[16];
        for (int i = 0; i < 4; i++)
        {
            for (int j = 0; j < 4; j++)
            {
                expected[i * 4 + j] = i == j ? 0 : p[i] * p[j] / (1 - p[i]);
            }
        }

        for (int d = 0; d < draws; d++)
        {
            Assert.AreNotEqual(ids[2 * d], ids[2 * d + 1], "without replacement, a row never repeats an id");
            counts[ids[2 * d] * 4 + ids[2 * d + 1]]++;
        }

        Assert.IsLessThan(Reference.ChiSquareCritical001(11), Reference.ChiSquare(counts, expected, draws));
    }

    [TestMethod]
    public void DrawsWithReplacementIndependently()
    {
        float[] p = [0.5f, 0.25f, 0.25f];
        using var samples = new MultinomialSampler(sampleCount: 30_000, withReplacement: true, seed: 3).Sample(tensor(p));
        var ids = samples.Ids.cpu().data<long>().ToArray();
        var counts = new long[3];
        foreach (var id in ids)
        {
            counts[id]++;
        }

        Assert.IsLessThan(Reference.ChiSquareCritical001(2), Reference.ChiSquare(counts, [0.5, 0.25, 0.25], ids.Length));
    }

    [TestMethod]
    public void TheSameSeedGivesTheSameIdsAndDifferentSeedsDiffer()
    {
        float[] p = Reference.Softmax(Reference.RandomLogits(new Random(1), 50));
        var a = DrawMany(p, 77, 500);
        var b = DrawMany(p, 77, 500);
        var c = DrawMany(p, 78, 500);
        CollectionAssert.AreEqual(a, b);
        CollectionAssert.AreNotEqual(a, c);
    }

    [TestMethod]
    public void ABatchDrawsWhatRowByRowCallsDraw()
    {
        var random = new Random(4);
        float[][] rows = [.. Enumerable.Range(0, 6).Select(_ => Reference.Softmax(Reference.RandomLogits(random, 30)))];
        using var batch = new MultinomialSampler(seed: 10).Sample(rows.ToTensor());
        var sequential = new MultinomialSampler(seed: 10);
        var expected = rows.Select(r =>
        {
            using var s = sequential.Sample(r.ToTensor());
            return s.Ids.item<long>();
        }).ToArray();
        CollectionAssert.AreEqual(expected, batch.Ids.cpu().data<long>().ToArray());
    }

    [TestMethod]
    public void ReportsTheNormalisedProbabilityOfEachDrawnId()
    {
        using var samples = new MultinomialSampler(sampleCount: 2, seed: 1).Sample(tensor(new[] { 2f, 0f, 6f }));
        var ids = samples.Ids.data<long>().ToArray();
        var probabilities = samples.Probabilities.ToFloats();
        CollectionAssert.AreEquivalent(new long[] { 0, 2 }, ids, "a zero weight is never drawn");
        for (int i = 0; i < 2; i++)
        {
            Assert.AreEqual(ids[i] == 0 ? 0.25f : 0.75f, probabilities[i], 1e-6f);
        }
    }

    [TestMethod]
    public void NeverDrawsAZeroProbabilityToken()
    {
        var ids = DrawMany([0f, 0.5f, 0f, 0.5f, 0f], 6, 20_000);
        Assert.IsTrue(ids.All(id => id is 1 or 3));
    }

    [TestMethod]
    public void ThrowsForNegativeNaNOrAllZeroWeights()
    {
        var sampler = new MultinomialSampler(seed: 1);
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => sampler.Sample(tensor(new[] { 0.5f, -0.1f }))).Message, "non-negative");
        StringAssert.Contains(Assert.Throws<ArgumentException>(() => sampler.Sample(tensor(new[] { 0.5f, float.NaN }))).Message, "finite");
        var zero = Assert.Throws<ArgumentException>(() => sampler.Sample(tensor(new[] { 0f, 0f })));
        Assert.AreEqual("probabilities", zero.ParamName);
        StringAssert.Contains(zero.Message, "sums to 0");
    }

    [TestMethod]
    public void ThrowsWhenTooFewTokensRemainForDrawsWithoutReplacement()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MultinomialSampler(sampleCount: 3, seed: 1).Sample(tensor(new[] { 0.5f, 0.5f, 0f })));
        StringAssert.Contains(ex.Message, "only 2 positive");
    }

    [TestMethod]
    public void ThrowsWhenSampleCountIsNotPositive()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new MultinomialSampler(sampleCount: 0));
        Assert.AreEqual("sampleCount", ex.ParamName);
    }

    [TestMethod]
    public void LeavesNoTensorsBehind()
    {
        var sampler = new MultinomialSampler(seed: 1);
        using var p = tensor(Reference.Softmax(Reference.RandomLogits(new Random(2), 100)));
        TensorTestExtensions.AssertNoTensorLeak(10_000, () => sampler.Sample(p).Dispose());
    }
}
