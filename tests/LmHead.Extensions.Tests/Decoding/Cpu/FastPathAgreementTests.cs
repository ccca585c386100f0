using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed class FastPathAgreementTests
{
    internal static DecodingPipeline Build(Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure, bool fast)
    {
        var pipeline = configure(new DecodingPipelineBuilder().UseCandidateCount(10)).Build();
        pipeline.UseCpuFastPath = fast;
        return pipeline;
    }

    public static IEnumerable<object[]> Configurations =>
    [
        ["T 0.7, top-k 50", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(0.7f).UseTopK(50))],
        ["top-k 50, T 0.7", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTopK(50).UseTemperature(0.7f))],
        ["T 0.7, k = V", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(0.7f))],
        ["top-k 3", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTopK(3))],
        ["greedy", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(0f).UseTopK(5))],
        // Rows past |max / T| > 4096 are scaled as (x - max) / T on both paths; at 2e-3 some rows are and some are not.
        ["T 2e-3, top-k 50", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(2e-3f).UseTopK(50))],
        ["T 2e-3, k = V", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(2e-3f))],
        ["T 1e-20, top-k 50", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(1e-20f).UseTopK(50))],
        ["T 1e-20, k = V", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(1e-20f))],
        ["top-k 50, T 1e-30", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTopK(50).UseTemperature(1e-30f))],
        ["T 1e-45 (denormal), k = V", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(1e-45f))],
        ["T 1e-38, top-k 3", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(1e-38f).UseTopK(3))],
        ["T 1e30, top-k 50", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(1e30f).UseTopK(50))],
    ];

    [TestMethod]
    [DynamicData(nameof(Configurations))]
    public void FastAndTensorPathsChooseTheSameTokensAndCandidates(string name, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure)
    {
        using var logits = randn(300, 4000, generator: new TorchSharp.torch.Generator(5)).mul(3);
        // Coarse values create ties at the k-th logit too.
        using var tied = logits.mul(4).round().div(4);
        AssertPathsAgree(name, configure, logits, tied);
    }

    public static IEnumerable<object[]> FilterConfigurations()
    {
        foreach (int k in new[] { 5, 50, 1000, 5000 })
        {
            foreach (float p in new[] { 0.5f, 0.9f, 0.95f, 1f })
            {
                foreach (float minP in new[] { 0f, 0.05f, 0.3f })
                {
                    // k = 5000 > V keeps the whole row: top-p and min-p still run on the fast path (k is set).
                    foreach (float t in k == 5000 ? new[] { 0.7f } : new[] { 0.3f, 0.7f, 1.5f })
                    {
                        if (p < 1f || minP > 0f)
                        {
                            yield return [$"T {t}, top-k {k}, top-p {p}, min-p {minP}", k, p, minP, t];
                        }
                    }
                }
            }
        }
    }

    [TestMethod]
    [DynamicData(nameof(FilterConfigurations))]
    public void TopPAndMinPAfterTopKChooseTheSameTokensAndCandidatesOnBothPaths(string name, int k, float p, float minP, float temperature)
    {
        DecodingPipelineBuilder Configure(DecodingPipelineBuilder b) => b.UseTemperature(temperature).UseTopK(k).UseTopP(p).UseMinP(minP);
        Assert.IsNotNull(Build(Configure, true).CpuPlan, name);
        using var logits = randn(300, 4000, generator: new TorchSharp.torch.Generator(7)).mul(3);
        // Coarse values: ties at the k-th logit and inside the nucleus (the lower id ranks first on both paths).
        using var tied = logits.mul(2).round().div(2);
        // Every third row keeps one logit in nine (about 444 finite, fewer than k = 1000); the others are -infinity.
        using var mask = arange(4000).remainder(9).ne(0).unsqueeze(0).logical_and(arange(300).remainder(3).eq(0).unsqueeze(1));
        using var sparse = logits.masked_fill(mask, float.NegativeInfinity);
        AssertPathsAgree(name, Configure, logits, tied, sparse);
    }

    /// <summary>
    /// Both paths give the same candidates (raw, processed, probability) on every row of every tensor and the same token
    /// on all but at most one row in 300 (a uniform within float rounding of a CDF boundary). Candidates are matched by
    /// id because torch.topk orders tied values arbitrarily; only the first tensor must have no ties among them.
    /// </summary>
    internal static void AssertPathsAgree(string name, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure, Tensor untied, params Tensor[] others) =>
        AssertPathsAgree(name, configure, null, untied, others);

    /// <inheritdoc cref="AssertPathsAgree(string, Func{DecodingPipelineBuilder, DecodingPipelineBuilder}, Tensor, Tensor[])"/>
    internal static void AssertPathsAgree(string name, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure, TokenHistory? history, Tensor untied, params Tensor[] others)
    {
        foreach (var rows in others.Prepend(untied))
        {
            var fast = Build(configure, true).NextTokens(rows, new SamplingRandom(123), history);
            var slow = Build(configure, false).NextTokens(rows, new SamplingRandom(123), history);
            int mismatches = 0;
            for (int r = 0; r < fast.Count; r++)
            {
                mismatches += fast[r].TokenId == slow[r].TokenId ? 0 : 1;
                // The tensor path normalises in float32 over all V entries; the fast path sums in float64.
                Assert.AreEqual(slow[r].Probability, fast[r].Probability, 1e-5f, $"{name}: row {r} probability");
                Assert.HasCount(slow[r].Candidates.Count, fast[r].Candidates);
                for (int c = 0; c < fast[r].Candidates.Count; c++)
                {
                    Assert.AreEqual(slow[r].Candidates[c].RawLogit, fast[r].Candidates[c].RawLogit, $"{name}: row {r} candidate {c}");
                }

                // torch.topk orders tied candidates arbitrarily (the fast path puts the lower id first), so match by id.
                foreach (var a in fast[r].Candidates)
                {
                    if (slow[r].Candidates.FirstOrDefault(x => x.TokenId == a.TokenId) is { RawLogit: var raw } b && b.TokenId == a.TokenId && raw == a.RawLogit)
                    {
                        Assert.AreEqual(b.ProcessedLogit, a.ProcessedLogit, $"{name}: row {r} token {a.TokenId}");
                        Assert.AreEqual(b.Probability, a.Probability, 1e-5f, $"{name}: row {r} token {a.TokenId}");
                    }
                    else
                    {
                        Assert.IsFalse(ReferenceEquals(rows, untied), $"{name}: row {r}: token {a.TokenId} is not a tensor-path candidate");
                    }
                }
            }

            // Only a uniform within float rounding of a CDF boundary may choose differently.
            Assert.IsLessThanOrEqualTo(1, mismatches, $"{name}: {mismatches} of {fast.Count} rows chose differently");
        }
    }

    [TestMethod]
    [DataRow(0.5f)]
    [DataRow(1e-3f)]
    [DataRow(1e-30f)]
    [DataRow(3f)]
    public void BothPathsAgreeOnLogitsNearFloatMaxValue(float temperature)
    {
        // x / T would overflow float32 (T < 1) or round neighbours together (T = 3): both paths scale as (x - max) / T.
        using var logits = rand(40, 3000, generator: new TorchSharp.torch.Generator(6)).mul(2).sub(1).mul(3.3e38);
        foreach (int? k in new int?[] { null, 50 })
        {
            Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure = k is { } kk ? b => b.UseTemperature(temperature).UseTopK(kk) : b => b.UseTemperature(temperature);
            var fast = Build(configure, true).NextTokens(logits, new SamplingRandom(5));
            var slow = Build(configure, false).NextTokens(logits, new SamplingRandom(5));
            for (int r = 0; r < fast.Count; r++)
            {
                Assert.AreEqual(slow[r].TokenId, fast[r].TokenId, $"T {temperature}, row {r}");
                Assert.AreEqual(slow[r].Probability, fast[r].Probability, 1e-5f, $"T {temperature}, row {r}");
                Assert.IsTrue(float.IsFinite(fast[r].Probability) && fast[r].Probability > 0, $"T {temperature}, row {r}");
                for (int c = 0; c < fast[r].Candidates.Count; c++)
                {
                    Assert.AreEqual(slow[r].Candidates[c].ProcessedLogit, fast[r].Candidates[c].ProcessedLogit, $"T {temperature}, row {r}, candidate {c}");
                }
            }
        }
    }

    [TestMethod]
    public void ABatchOf32FullVocabularyRowsEqualsTheRowsOneByOne()
    {
        using var logits = randn(32, 50257, generator: new TorchSharp.torch.Generator(9)).mul(4);
        foreach (int k in new[] { 50, 50257 })
        {
            var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(k).Build();
            var batch = pipeline.NextTokens(logits, new SamplingRandom(42));
            var generator = new SamplingRandom(42);
            for (int r = 0; r < 32; r++)
            {
                using var row = logits[r];
                var single = pipeline.NextToken(row, generator);
                Assert.AreEqual(single.TokenId, batch[r].TokenId, $"k {k}, row {r}");
                Assert.AreEqual(single.Probability, batch[r].Probability);
            }
        }
    }

    [TestMethod]
    public void TheFastPathReportsInvalidRowsLikeTheTensorPath()
    {
        var pipeline = new DecodingPipelineBuilder().UseTopK(2).Build();
        var ex = Assert.Throws<ArgumentException>(() => pipeline.NextToken(new[] { 0f, float.NaN, 1f }.ToTensor()));
        StringAssert.Contains(ex.Message, "NaN");
        Assert.Throws<ArgumentException>(() => pipeline.NextToken(new[] { float.NegativeInfinity, float.NegativeInfinity }.ToTensor()));
    }

    [TestMethod]
    public void TheFastPathLeavesNoTensorsBehind()
    {
        var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(50).UseSeed(1).Build();
        using var logits = randn(4, 1000);
        TensorTestExtensions.AssertNoTensorLeak(2000, () => pipeline.NextTokens(logits));
    }
}
