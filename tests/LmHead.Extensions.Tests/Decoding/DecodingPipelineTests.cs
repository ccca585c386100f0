using LmHead.Extensions.Decoding;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

[TestClass]
public sealed class DecodingPipelineTests
{
    [TestMethod]
    public void RunsStagesInOrderAndReportsCandidates()
    {
        var logits = Reference.RandomLogits(new Random(5), 40);
        var pipeline = new DecodingPipelineBuilder().UseTemperature(0.5f).UseTopK(4).UseSeed(1).UseCandidateCount(6).Build();
        using var input = logits.ToTensor();
        var result = pipeline.NextToken(input);

        var expected = Reference.Softmax(Reference.TopK(Reference.Scale(logits, 0.5f), 4));
        Assert.IsGreaterThan(0f, expected[result.TokenId], "the chosen token survived top-k");
        Assert.AreEqual(expected[result.TokenId], result.Probability, 1e-6f);
        Assert.HasCount(6, result.Candidates);
        var byRaw = logits.Select((v, i) => (v, i)).OrderByDescending(t => t.v).Take(6).ToArray();
        for (int c = 0; c < 6; c++)
        {
            var candidate = result.Candidates[c];
            Assert.AreEqual(byRaw[c].i, candidate.TokenId);
            Assert.AreEqual(byRaw[c].v, candidate.RawLogit);
            Assert.AreEqual(expected[candidate.TokenId], candidate.Probability, 1e-6f);
            if (c >= 4)
            {
                Assert.IsTrue(float.IsNegativeInfinity(candidate.ProcessedLogit), "candidates past k are filtered");
            }
            else
            {
                Assert.AreEqual(byRaw[c].v / 0.5f, candidate.ProcessedLogit, 1e-5f);
            }
        }
    }

    [TestMethod]
    public void TemperatureZeroPicksTheFirstMaximumWithoutSampling()
    {
        var pipeline = new DecodingPipelineBuilder().UseTemperature(0f).Build();
        Assert.IsTrue(pipeline.IsGreedy);
        float[][] rows = [[1f, 3f, 3f, 0f], [9f, -1f, 9f, 9f]];
        var results = pipeline.NextTokens(rows.ToTensor());
        Assert.AreEqual(1, results[0].TokenId);
        Assert.AreEqual(0, results[1].TokenId);
        Assert.AreEqual(1f, results[0].Probability);
    }

    [TestMethod]
    public void TemperatureOneAddsNoStage()
    {
        var pipeline = new DecodingPipelineBuilder().UseTemperature(1f).UseTopK(3).Build();
        Assert.HasCount(1, pipeline.Stages);
        Assert.IsInstanceOfType<TopKFilter>(pipeline.Stages[0]);
    }

    [TestMethod]
    public void BatchResultsEqualRowByRowResultsForTheSameGenerator()
    {
        var random = new Random(8);
        float[][] rows = [.. Enumerable.Range(0, 5).Select(_ => Reference.RandomLogits(random, 64))];
        var pipeline = new DecodingPipelineBuilder().UseTemperature(0.9f).UseTopK(10).Build();
        var batch = pipeline.NextTokens(rows.ToTensor(), new SamplingRandom(3));
        var generator = new SamplingRandom(3);
        for (int r = 0; r < rows.Length; r++)
        {
            var single = pipeline.NextToken(rows[r].ToTensor(), generator);
            Assert.AreEqual(single.TokenId, batch[r].TokenId, $"row {r}");
            Assert.AreEqual(single.Probability, batch[r].Probability, 1e-6f);
        }
    }

    [TestMethod]
    public void ThrowsWhenLogitsContainNaN()
    {
        var pipeline = new DecodingPipelineBuilder().UseTopK(2).Build();
        var ex = Assert.Throws<ArgumentException>(() => pipeline.NextToken(new[] { 0f, float.NaN, 1f }.ToTensor()));
        StringAssert.Contains(ex.Message, "NaN");
    }

    [TestMethod]
    public void LeavesNoTensorsBehindOver10000Decisions()
    {
        var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).UseSeed(1).Build();
        using var logits = randn(1000);
        TensorTestExtensions.AssertNoTensorLeak(10_000, () => pipeline.NextToken(logits));
    }

    [TestMethod]
    public void TheSeedsConvenienceFunctionsDecodeAGpt2Token()
    {
        // A projection whose row for " the" (id 262) is aligned with the hidden vector: greedy must pick it.
        const int theToken = 262;
        using var weight = zeros(Gpt2Tokenizer.VocabularySize, 4);
        weight[theToken] = tensor(new[] { 1f, 1f, 1f, 1f });
        using var projector = new LogitsProjector(weight);
        using var hidden = ones(4).mul(5);
        using var probabilities = LanguageModelHead.ComputeProbabilities(projector, hidden, temperature: 0.7f, k: 50);

        var expected = Reference.Softmax(Reference.TopK(Reference.Scale(projector.Project(hidden).ToFloats(), 0.7f), 50));
        Reference.AssertClose(expected, probabilities.ToFloats(), 1e-6f);
        Assert.AreEqual(" the", LanguageModelHead.GetTopToken(probabilities, Gpt2Tokenizer.Default, topN: 1, seed: 4));
        Assert.AreEqual(2, Gpt2Tokenizer.Default.EncodeToIds(LanguageModelHead.GetTopToken(probabilities, Gpt2Tokenizer.Default, topN: 2, seed: 4)).Count);
    }
}
