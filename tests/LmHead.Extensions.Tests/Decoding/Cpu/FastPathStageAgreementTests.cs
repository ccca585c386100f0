using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

/// <summary>
/// The fast path against the tensor path (<c>UseCpuFastPath = false</c>) for the stages beyond temperature and top-k:
/// top-p and min-p without a top-k, the penalties with a token history, logit bias, greedy, tiny temperatures and the
/// log-probabilities, each on plain, tied and mostly -infinity rows.
/// </summary>
[TestClass]
public sealed class FastPathStageAgreementTests
{
    private const int Vocabulary = 4000;

    /// <summary>A prompt and a generated part with repeats, inside the vocabulary.</summary>
    private static readonly TokenHistory History = new(
        [.. Enumerable.Range(0, 40).Select(i => i * 97 % Vocabulary)],
        [.. Enumerable.Range(0, 24).Select(i => i * 13 % 7 * 211 % Vocabulary)]);

    private static readonly Dictionary<int, float> Bias = new() { [5] = 3f, [17] = float.NegativeInfinity, [100] = -2f, [3999] = 0.5f };

    private static (Tensor Plain, Tensor Tied, Tensor Sparse) Rows(ulong seed)
    {
        var plain = randn(300, Vocabulary, generator: new TorchSharp.torch.Generator(seed)).mul(3);
        var tied = plain.mul(2).round().div(2);
        // Every third row keeps one logit in nine; the others are -infinity.
        using var mask = arange(Vocabulary).remainder(9).ne(0).unsqueeze(0).logical_and(arange(300).remainder(3).eq(0).unsqueeze(1));
        var sparse = plain.masked_fill(mask, float.NegativeInfinity);
        return (plain, tied, sparse);
    }

    private static void AssertAgree(string name, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure, TokenHistory? history = null, ulong seed = 7)
    {
        Assert.IsNotNull(FastPathAgreementTests.Build(configure, true).CpuPlan, $"{name}: the options take the fast path");
        var (plain, tied, sparse) = Rows(seed);
        using (plain)
        using (tied)
        using (sparse)
        {
            FastPathAgreementTests.AssertPathsAgree(name, configure, history, plain, tied, sparse);
        }
    }

    public static IEnumerable<object[]> FiltersWithoutTopK()
    {
        foreach (float p in new[] { 0.5f, 0.9f, 0.95f, 1f })
        {
            foreach (float minP in new[] { 0f, 0.05f, 0.3f })
            {
                foreach (float t in new[] { 0.3f, 0.7f, 1.5f })
                {
                    if (p < 1f || minP > 0f)
                    {
                        yield return [$"T {t}, top-p {p}, min-p {minP}", p, minP, t];
                    }
                }
            }
        }
    }

    [TestMethod]
    [DynamicData(nameof(FiltersWithoutTopK))]
    public void TopPAndMinPWithoutTopKChooseTheSameTokensAndCandidates(string name, float p, float minP, float temperature) =>
        AssertAgree(name, b => b.UseTemperature(temperature).UseTopP(p).UseMinP(minP));

    [TestMethod]
    [DataRow(0.9f, 0f, 1f)]
    [DataRow(0.99f, 0f, 0.7f)]
    [DataRow(0.5f, 0.01f, 1.5f)]
    public void TopPOnFlatRowsChoosesTheSameTokensAndCandidates(float p, float minP, float temperature)
    {
        // randn rows: top-p keeps hundreds to thousands of the 4,000 tokens, so the fast path ranks them by buckets
        // (SurvivorFilter.BucketedAbove) instead of one sort.
        using var plain = randn(300, Vocabulary, generator: new TorchSharp.torch.Generator(11));
        using var tied = plain.mul(8).round().div(8);
        FastPathAgreementTests.AssertPathsAgree($"flat, T {temperature}, top-p {p}, min-p {minP}", b => b.UseTemperature(temperature).UseTopP(p).UseMinP(minP), plain, tied);
    }

    [TestMethod]
    [DataRow(2e-3f)]
    [DataRow(1e-20f)]
    [DataRow(1e-45f)]
    public void TopPAndMinPWithoutTopKAgreeAtTinyTemperatures(float temperature)
    {
        AssertAgree($"T {temperature}, top-p 0.9", b => b.UseTemperature(temperature).UseTopP(0.9f));
        AssertAgree($"T {temperature}, min-p 0.1", b => b.UseTemperature(temperature).UseMinP(0.1f));
    }

    public static IEnumerable<object[]> Penalties =>
    [
        ["repetition 1.3", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseRepetitionPenalty(1.3f).UseTemperature(0.7f))],
        ["repetition 0.8, window 10, top-k 50", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseRepetitionPenalty(0.8f, 10).UseTemperature(0.7f).UseTopK(50))],
        ["frequency 0.5, presence 0.3", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseFrequencyPresencePenalty(0.5f, 0.3f).UseTemperature(0.7f))],
        ["frequency -0.4, top-k 20", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseFrequencyPresencePenalty(-0.4f, 0f).UseTopK(20))],
        ["presence 2, top-p 0.9", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseFrequencyPresencePenalty(0f, 2f).UseTopP(0.9f))],
        ["bias", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseLogitBias(Bias).UseTemperature(0.7f))],
        ["bias, top-k 50, min-p 0.05", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseLogitBias(Bias).UseTopK(50).UseMinP(0.05f))],
        ["greedy, bias, repetition 1.5", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseLogitBias(Bias).UseRepetitionPenalty(1.5f).UseTemperature(0f))],
        ["all: bias, repetition 1.1, frequency 0.2, presence 0.1, T 0.7, top-k 50, top-p 0.95, min-p 0.05",
            (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseLogitBias(Bias).UseRepetitionPenalty(1.1f).UseFrequencyPresencePenalty(0.2f, 0.1f)
                .UseTemperature(0.7f).UseTopK(50).UseTopP(0.95f).UseMinP(0.05f))],
        ["all without top-k, T 1e-20", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseLogitBias(Bias).UseRepetitionPenalty(1.1f)
            .UseFrequencyPresencePenalty(0.2f, 0.1f).UseTemperature(1e-20f).UseTopP(0.95f).UseMinP(0.05f))],
    ];

    [TestMethod]
    [DynamicData(nameof(Penalties))]
    public void PenaltiesAndBiasChooseTheSameTokensAndCandidatesOnBothPaths(string name, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure)
    {
        AssertAgree(name, configure, History);
        AssertAgree($"{name}, empty history", configure, TokenHistory.Empty);
    }

    [TestMethod]
    public void AHistoryOutsideTheVocabularyIsReportedByTheTensorStage()
    {
        var pipeline = new DecodingPipelineBuilder().UseRepetitionPenalty(1.2f).UseTemperature(0.7f).Build();
        Assert.IsNotNull(pipeline.CpuPlan);
        using var row = randn(100);
        var ex = Assert.Throws<ArgumentException>(() => pipeline.NextToken(row, new SamplingRandom(1), new TokenHistory([3, 100], [])));
        StringAssert.Contains(ex.Message, "100");
        var biased = new DecodingPipelineBuilder().UseLogitBias(new Dictionary<int, float> { [100] = 1f }).Build();
        Assert.Throws<ArgumentException>(() => biased.NextToken(row, new SamplingRandom(1)));
    }

    public static IEnumerable<object[]> HalfPrecisionConfigurations()
    {
        (string Name, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> Configure)[] configurations =
        [
            ("T 0.7, top-k 50", b => b.UseTemperature(0.7f).UseTopK(50)),
            ("T 0.7 (k = V)", b => b.UseTemperature(0.7f)),
            ("T 0.7, top-p 0.9", b => b.UseTemperature(0.7f).UseTopP(0.9f)),
            ("T 1.5, min-p 0.05", b => b.UseTemperature(1.5f).UseMinP(0.05f)),
            ("T 0.3, top-k 50, top-p 0.95, min-p 0.05", b => b.UseTemperature(0.3f).UseTopK(50).UseTopP(0.95f).UseMinP(0.05f)),
            ("greedy", b => b.UseTemperature(0f)),
            ("T 1e-20, top-p 0.9", b => b.UseTemperature(1e-20f).UseTopP(0.9f)),
            ("all: bias, repetition 1.1, frequency 0.2, presence 0.1, T 0.7, top-k 50, top-p 0.95, min-p 0.05",
                b => b.UseLogitBias(Bias).UseRepetitionPenalty(1.1f).UseFrequencyPresencePenalty(0.2f, 0.1f).UseTemperature(0.7f).UseTopK(50).UseTopP(0.95f).UseMinP(0.05f)),
            ("bias, repetition 1.3, T 0.7, top-p 0.9", b => b.UseLogitBias(Bias).UseRepetitionPenalty(1.3f).UseTemperature(0.7f).UseTopP(0.9f)),
        ];
        foreach (var dtype in new[] { ScalarType.Float16, ScalarType.BFloat16 })
        {
            foreach (var (name, configure) in configurations)
            {
                yield return [$"{dtype}, {name}", dtype, configure];
            }
        }
    }

    [TestMethod]
    [DynamicData(nameof(HalfPrecisionConfigurations))]
    public void HalfPrecisionRowsChooseTheSameTokensAndCandidatesOnBothPaths(string name, ScalarType dtype, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure)
    {
        var (plain, tied, sparse) = Rows(11);
        using (plain)
        using (tied)
        using (sparse)
        {
            // Half precision rounds randn · 3 into ties, which torch.topk may order either way among the candidates: in the
            // first tensor the 12 best of each row are moved 0.5 apart (bfloat16 still tells them apart).
            var top = plain.topk(12, dim: 1);
            using var values = top.values;
            using var indexes = top.indexes;
            using var offsets = arange(12, 0, -1, dtype: ScalarType.Float32).mul(0.5f);
            using var lifted = values.add(offsets);
            using var separated = plain.scatter(1, indexes, lifted);
            using var halfSeparated = separated.to_type(dtype);
            using var halfPlain = plain.to_type(dtype);
            using var halfTied = tied.to_type(dtype);
            using var halfSparse = sparse.to_type(dtype);
            FastPathAgreementTests.AssertPathsAgree(name, configure, History, halfSeparated, halfPlain, halfTied, halfSparse);

            // The fast path decides on the exact float32 values of the half-precision logits, row by row as in a batch.
            using var widened = halfPlain.to_type(ScalarType.Float32);
            var half = FastPathAgreementTests.Build(configure, true).NextTokens(halfPlain, new SamplingRandom(5), History);
            var wide = FastPathAgreementTests.Build(configure, true).NextTokens(widened, new SamplingRandom(5), History);
            for (int r = 0; r < half.Count; r++)
            {
                Assert.AreEqual(wide[r].TokenId, half[r].TokenId, $"{name}: row {r}");
                Assert.AreEqual(wide[r].Probability, half[r].Probability, $"{name}: row {r}");
            }

            using var single = halfPlain[3];
            using var singleWide = widened[3];
            var one = FastPathAgreementTests.Build(configure, true).NextToken(single, new SamplingRandom(5), History);
            var oneWide = FastPathAgreementTests.Build(configure, true).NextToken(singleWide, new SamplingRandom(5), History);
            Assert.AreEqual(oneWide.TokenId, one.TokenId, $"{name}: one row");
            Assert.AreEqual(oneWide.Probability, one.Probability, $"{name}: one row");
        }
    }

    [TestMethod]
    public void HalfPrecisionLogitsInCpuMemoryTakeTheFastPath()
    {
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16 })
        {
            using var logits = randn(2, 10).to_type(dtype);
            Assert.IsTrue(LmHead.Extensions.Decoding.Cpu.CpuBatchSampler.Supports(logits), $"{dtype}");
        }

        using var doubles = randn(2, 10, dtype: ScalarType.Float64);
        Assert.IsFalse(LmHead.Extensions.Decoding.Cpu.CpuBatchSampler.Supports(doubles));
    }

    public static IEnumerable<object[]> LogProbabilityConfigurations =>
    [
        ["T 0.7, top-k 50", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(0.7f).UseTopK(50))],
        ["T 0.7", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(0.7f))],
        ["T 0.7, top-p 0.9", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(0.7f).UseTopP(0.9f))],
        ["min-p 0.1", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseMinP(0.1f))],
        ["greedy", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(0f))],
        ["bias, repetition 1.2, top-k 50, top-p 0.95", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseLogitBias(Bias).UseRepetitionPenalty(1.2f).UseTopK(50).UseTopP(0.95f))],
        ["T 1e-20, top-k 50", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(1e-20f).UseTopK(50))],
    ];

    [TestMethod]
    [DynamicData(nameof(LogProbabilityConfigurations))]
    public void LogProbabilitiesMatchLogSoftmaxOfTheProcessedLogits(string name, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure)
    {
        var fast = FastPathAgreementTests.Build(configure, true);
        var slow = FastPathAgreementTests.Build(configure, false);
        using var logits = randn(40, Vocabulary, generator: new TorchSharp.torch.Generator(3)).mul(3);
        int mismatches = 0;
        foreach (var request in new LogProbabilityRequest[] { new(5, true), new(20, false), new(0, true) })
        {
            for (int r = 0; r < 40; r++)
            {
                using var row = logits[r];
                var a = fast.NextTokenWithLogProbabilities(row, new SamplingRandom((ulong)r), History, request);
                var b = slow.NextTokenWithLogProbabilities(row, new SamplingRandom((ulong)r), History, request);
                if (a.TokenId != b.TokenId)
                {
                    mismatches++;
                    continue;
                }

                var fastReport = a.LogProbabilities!;
                var slowReport = b.LogProbabilities!;
                AssertClose(slowReport.Chosen, fastReport.Chosen, $"{name}: row {r} chosen");
                Assert.HasCount(slowReport.Top.Count, fastReport.Top, $"{name}: row {r} alternatives");
                for (int t = 0; t < fastReport.Top.Count; t++)
                {
                    // torch.topk may order equal values either way: compare values by rank and ids through the values.
                    Assert.AreEqual(slowReport.Top[t].LogProbability, fastReport.Top[t].LogProbability, 1e-4, $"{name}: row {r} rank {t}");
                    var match = slowReport.Top.Single(x => x.TokenId == fastReport.Top[t].TokenId);
                    AssertClose(match, fastReport.Top[t], $"{name}: row {r} token {match.TokenId}");
                }
            }
        }

        Assert.IsLessThanOrEqualTo(1, mismatches, $"{name}: {mismatches} rows chose differently");
    }

    private static void AssertClose(ScoredToken expected, ScoredToken actual, string what)
    {
        Assert.AreEqual(expected.TokenId, actual.TokenId, what);
        Assert.AreEqual(expected.LogProbability, actual.LogProbability, 1e-4 * Math.Max(1, Math.Abs(expected.LogProbability)), what);
        Assert.AreEqual(expected.RawLogProbability is null, actual.RawLogProbability is null, what);
        if (expected.RawLogProbability is { } raw)
        {
            Assert.AreEqual(raw, actual.RawLogProbability!.Value, 1e-4 * Math.Max(1, Math.Abs(raw)), what);
        }
    }
}
