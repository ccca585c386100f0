using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

[TestClass]
public sealed class TopPFilterTests
{
    [TestMethod]
    [DataRow(0.9f)]
    [DataRow(0.5f)]
    [DataRow(0.01f)]
    [DataRow(0.999f)]
    public void KeepsTheSmallestSetReachingPIncludingTheCrossingToken(float p)
    {
        var random = new Random(21);
        for (int trial = 0; trial < 20; trial++)
        {
            var logits = Reference.RandomLogits(random, 30, 4f);
            using var output = new TopPFilter(p).Apply(logits.ToTensor());
            CollectionAssert.AreEqual(ReferenceFilters.TopP(logits, p), output.ToFloats(), $"trial {trial}");
        }
    }

    [TestMethod]
    public void HandWorkedCase()
    {
        // probabilities 0.5, 0.3, 0.2 (as logits ln p): p = 0.6 keeps 0.5 and the crossing 0.3.
        float[] logits = [MathF.Log(0.2f), MathF.Log(0.5f), MathF.Log(0.3f)];
        using var output = new TopPFilter(0.6f).Apply(logits.ToTensor());
        var values = output.ToFloats();
        Assert.IsTrue(float.IsNegativeInfinity(values[0]));
        Assert.IsTrue(float.IsFinite(values[1]) && float.IsFinite(values[2]));
    }

    [TestMethod]
    public void PEqualToOneKeepsEverythingAndATinyPKeepsOnlyTheTop()
    {
        var logits = Reference.RandomLogits(new Random(2), 10);
        using var all = new TopPFilter(1f).Apply(logits.ToTensor());
        CollectionAssert.AreEqual(logits, all.ToFloats());
        using var one = new TopPFilter(1e-6f).Apply(logits.ToTensor());
        Assert.AreEqual(1, one.ToFloats().Count(float.IsFinite));
        using var three = new TopPFilter(1e-6f, minTokensToKeep: 3).Apply(logits.ToTensor());
        Assert.AreEqual(3, three.ToFloats().Count(float.IsFinite));
    }

    [TestMethod]
    public void AllEqualLogitsKeepTheLowestIdsFirst()
    {
        using var output = new TopPFilter(0.5f).Apply(new float[] { 1f, 1f, 1f, 1f }.ToTensor());
        float ninf = float.NegativeInfinity;
        CollectionAssert.AreEqual(new[] { 1f, 1f, ninf, ninf }, output.ToFloats(), "mass before the 3rd token is 0.5, not below p");
    }

    [TestMethod]
    [DataRow(0f)]
    [DataRow(-0.1f)]
    [DataRow(1.1f)]
    [DataRow(float.NaN)]
    public void ThrowsWhenPIsOutOfRange(float p) =>
        Assert.AreEqual("p", Assert.Throws<ArgumentOutOfRangeException>(() => new TopPFilter(p)).ParamName);

    [TestMethod]
    public void ConformsToTheStageContract() => StageConformance.Check(new TopPFilter(0.8f));
}

[TestClass]
public sealed class MinPFilterTests
{
    [TestMethod]
    [DataRow(0.05f)]
    [DataRow(0.3f)]
    [DataRow(1f)]
    public void KeepsTokensAtLeastMinPTimesTheTopProbability(float minP)
    {
        var random = new Random(22);
        for (int trial = 0; trial < 20; trial++)
        {
            var logits = Reference.RandomLogits(random, 30, 4f);
            using var output = new MinPFilter(minP).Apply(logits.ToTensor());
            CollectionAssert.AreEqual(ReferenceFilters.MinP(logits, minP), output.ToFloats(), $"trial {trial}");
        }
    }

    [TestMethod]
    public void ZeroKeepsEverything()
    {
        var logits = Reference.RandomLogits(new Random(3), 10, 20f);
        using var output = new MinPFilter(0f).Apply(logits.ToTensor());
        CollectionAssert.AreEqual(logits, output.ToFloats());
    }

    [TestMethod]
    [DataRow(-0.01f)]
    [DataRow(1.01f)]
    [DataRow(float.NaN)]
    public void ThrowsWhenMinPIsOutOfRange(float minP) =>
        Assert.AreEqual("minP", Assert.Throws<ArgumentOutOfRangeException>(() => new MinPFilter(minP)).ParamName);

    [TestMethod]
    public void ConformsToTheStageContract() => StageConformance.Check(new MinPFilter(0.1f));
}

[TestClass]
public sealed class LogitBiasTests
{
    [TestMethod]
    public void AddsTheBiasAndBansWithNegativeInfinity()
    {
        var bias = new LogitBias(new Dictionary<int, float> { [1] = 2.5f, [3] = float.NegativeInfinity });
        using var output = bias.Apply(new float[] { 0f, 1f, 2f, 3f }.ToTensor());
        CollectionAssert.AreEqual(new[] { 0f, 3.5f, 2f, float.NegativeInfinity }, output.ToFloats());
    }

    [TestMethod]
    public void ABannedTokenIsNeverDrawn()
    {
        var pipeline = new DecodingPipelineBuilder().UseLogitBias(new Dictionary<int, float> { [0] = float.NegativeInfinity }).UseSeed(1).Build();
        using var logits = new float[] { 10f, 0f, 0f }.ToTensor();
        var drawn = Enumerable.Range(0, 2000).Select(_ => pipeline.NextToken(logits).TokenId).ToList();
        Assert.IsFalse(drawn.Contains(0));
    }

    [TestMethod]
    public void ThrowsForATokenOutsideTheVocabularyOrABadValue()
    {
        var ex = Assert.Throws<ArgumentException>(() => new LogitBias(new Dictionary<int, float> { [7] = 1f }).Apply(zeros(5)));
        StringAssert.Contains(ex.Message, "token 7");
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogitBias(new Dictionary<int, float> { [1] = float.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogitBias(new Dictionary<int, float> { [1] = float.PositiveInfinity }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogitBias(new Dictionary<int, float> { [-1] = 1f }));
    }

    [TestMethod]
    public void ConformsToTheStageContract() => StageConformance.Check(new LogitBias(new Dictionary<int, float> { [2] = 1f, [5] = -3f }));
}

[TestClass]
public sealed class PenaltyTests
{
    [TestMethod]
    public void RepetitionPenaltyMultipliesNegativeAndDividesPositiveLogitsOncePerDistinctToken()
    {
        float[] logits = [2f, -1f, 4f, -3f, 1f];
        var history = new TokenHistory([0, 1, 1], [1, 3]);
        using var output = new RepetitionPenalty(2f).Apply(logits.ToTensor(), history);
        CollectionAssert.AreEqual(ReferenceFilters.Repetition(logits, [0, 1, 3], 2f), output.ToFloats());
        CollectionAssert.AreEqual(new[] { 1f, -2f, 4f, -6f, 1f }, output.ToFloats());
    }

    [TestMethod]
    public void RepetitionPenaltyWindowCountsOnlyRecentTokens()
    {
        float[] logits = [2f, 2f, 2f];
        using var output = new RepetitionPenalty(2f, window: 2).Apply(logits.ToTensor(), new TokenHistory([0], [1, 2]));
        CollectionAssert.AreEqual(new[] { 2f, 1f, 1f }, output.ToFloats());
    }

    [TestMethod]
    public void FrequencyAndPresencePenaltiesFollowOpenAi()
    {
        float[] logits = [1f, 1f, 1f, 1f];
        // generated: token 1 three times, token 2 once; the prompt does not count.
        var history = new TokenHistory([3, 3], [1, 2, 1, 1]);
        using var output = new FrequencyPresencePenalty(0.5f, 0.25f).Apply(logits.ToTensor(), history);
        Reference.AssertClose([1f, 1f - 3 * 0.5f - 0.25f, 1f - 0.5f - 0.25f, 1f], output.ToFloats(), 1e-6f);
    }

    [TestMethod]
    public void PenaltiesOnAnEmptyHistoryChangeNothing()
    {
        var logits = Reference.RandomLogits(new Random(5), 8);
        using var a = new RepetitionPenalty(1.5f).Apply(logits.ToTensor());
        using var b = new FrequencyPresencePenalty(1f, 1f).Apply(logits.ToTensor(), TokenHistory.Empty);
        CollectionAssert.AreEqual(logits, a.ToFloats());
        CollectionAssert.AreEqual(logits, b.ToFloats());
    }

    [TestMethod]
    public void ThrowsForBadOptionsAndHistoryOutsideTheVocabulary()
    {
        Assert.AreEqual("penalty", Assert.Throws<ArgumentOutOfRangeException>(() => new RepetitionPenalty(0f)).ParamName);
        Assert.AreEqual("frequency", Assert.Throws<ArgumentOutOfRangeException>(() => new FrequencyPresencePenalty(float.NaN, 0)).ParamName);
        Assert.AreEqual("window", Assert.Throws<ArgumentOutOfRangeException>(() => new RepetitionPenalty(1.2f, 0)).ParamName);
        var ex = Assert.Throws<ArgumentException>(() => new RepetitionPenalty(1.2f).Apply(zeros(4), new TokenHistory([9], [])));
        StringAssert.Contains(ex.Message, "token id 9");
    }

    [TestMethod]
    public void ConformsToTheStageContract()
    {
        StageConformance.Check(new RepetitionPenalty(1.3f));
        StageConformance.Check(new FrequencyPresencePenalty(0.2f, 0.1f));
    }
}

[TestClass]
public sealed class DecodingOrderTests
{
    [TestMethod]
    public void TheDefaultOrderIsBiasPenaltiesTemperatureTopKTopPMinP()
    {
        var options = new LmHead.Extensions.Generation.GenerationOptions
        {
            Decoding = new()
            {
                Temperature = 0.8f, TopK = 10, TopP = 0.9f, MinP = 0.05f, RepetitionPenalty = 1.1f, FrequencyPenalty = 0.1f,
                LogitBias = new Dictionary<int, float> { [1] = 1f },
            },
        };
        var kinds = options.BuildPipeline().Stages.Select(s => s.GetType().Name).ToArray();
        CollectionAssert.AreEqual(
            new[] { "LogitBias", "RepetitionPenalty", "FrequencyPresencePenalty", "TemperatureScaler", "TopKFilter", "TopPFilter", "MinPFilter" }, kinds);
    }

    [TestMethod]
    public void WhereTemperatureSitsChangesTopPButNotTopK()
    {
        var logits = Reference.RandomLogits(new Random(9), 40, 3f);
        using var input = logits.ToTensor();
        using var tempFirst = new DecodingPipelineBuilder().UseTemperature(2f).UseTopP(0.5f).Build().Process(input);
        using var tempLast = new DecodingPipelineBuilder().UseTopP(0.5f).UseTemperature(2f).Build().Process(input);
        Assert.AreNotEqual(tempFirst.ToFloats().Count(float.IsFinite), tempLast.ToFloats().Count(float.IsFinite));
        using var kFirst = new DecodingPipelineBuilder().UseTopK(5).UseTemperature(2f).Build().Process(input);
        using var kLast = new DecodingPipelineBuilder().UseTemperature(2f).UseTopK(5).Build().Process(input);
        CollectionAssert.AreEqual(kFirst.ToFloats(), kLast.ToFloats());
    }

    [TestMethod]
    [DataRow(0.7f, 0.8f, 0f)]
    [DataRow(1.0f, 1f, 0.2f)]
    [DataRow(1.3f, 0.6f, 0.05f)]
    public void SampledTokensFollowTheProcessedDistributionByChiSquare(float temperature, float p, float minP)
    {
        var logits = Reference.RandomLogits(new Random(77), 25, 2.5f);
        var expectedLogits = ReferenceFilters.MinP(ReferenceFilters.TopP(Reference.Scale(logits, temperature), p), minP);
        var expected = Reference.Softmax(expectedLogits).Select(x => (double)x).ToArray();
        var pipeline = new DecodingPipelineBuilder().UseTemperature(temperature).UseTopP(p).UseMinP(minP).Build();
        const int draws = 100_000;
        using var rows = tensor(logits).unsqueeze(0).expand(draws, logits.Length).contiguous();
        var results = pipeline.NextTokens(rows, new SamplingRandom(31));
        var counts = new long[logits.Length];
        foreach (var r in results)
        {
            Assert.IsGreaterThan(0, expected[r.TokenId], $"token {r.TokenId} was filtered out");
            counts[r.TokenId]++;
        }

        int cells = expected.Count(x => x > 0);
        Assert.IsLessThan(Reference.ChiSquareCritical001(Math.Max(1, cells - 1)), Reference.ChiSquare(counts, expected, draws));
    }

    [TestMethod]
    public void GreedyPicksTheFirstMaximum()
    {
        var pipeline = new DecodingPipelineBuilder().UseGreedy().Build();
        Assert.AreEqual(2, pipeline.NextToken(new float[] { 0f, 1f, 5f, 5f }.ToTensor()).TokenId);
    }
}
