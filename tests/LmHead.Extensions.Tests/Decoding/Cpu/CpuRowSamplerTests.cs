using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed class CpuRowSamplerTests
{
    private const int Draws = 100_000;

    private static CpuSamplingPlan Plan(params ILogitsStage[] stages) => PlanOrNull(stages)!;

    /// <summary>The plan a pipeline composed of <paramref name="stages"/> with the builder gets (built-in stages through their Use methods).</summary>
    private static CpuSamplingPlan? PlanOrNull(params ILogitsStage[] stages)
    {
        var builder = new DecodingPipelineBuilder();
        foreach (var stage in stages)
        {
            _ = stage switch
            {
                TemperatureScaler t => builder.UseTemperature(t.Temperature),
                TopKFilter k => builder.UseTopK(k.K),
                TopPFilter p => builder.UseTopP(p.P, p.MinTokensToKeep),
                MinPFilter m => builder.UseMinP(m.MinP),
                _ => builder.Use(stage),
            };
        }

        return builder.Build().CpuPlan;
    }

    private static long[] DrawMany(float[] logits, CpuSamplingPlan plan, ulong seed)
    {
        var sampler = new CpuRowSampler(plan, candidateCount: 0);
        var random = new SamplingRandom(seed);
        var counts = new long[logits.Length];
        for (int d = 0; d < Draws; d++)
        {
            counts[sampler.Sample(logits, random.NextDouble())!.TokenId]++;
        }

        return counts;
    }

    [TestMethod]
    [DataRow(0.7f, 20)]
    [DataRow(1.0f, 5)]
    [DataRow(1.6f, 60)]
    [DataRow(0.7f, 1000)]
    public void DrawsMatchSoftmaxOfTopKOfScaledLogitsByChiSquare(float temperature, int k)
    {
        var logits = Reference.RandomLogits(new Random(11), 300, 2f);
        var expected = Reference.Softmax(Reference.TopK(Reference.Scale(logits, temperature), k));
        var counts = DrawMany(logits, Plan(new TemperatureScaler(temperature), new TopKFilter(k)), seed: 77);

        for (int id = 0; id < logits.Length; id++)
        {
            Assert.IsFalse(expected[id] == 0 && counts[id] > 0, $"token {id} was drawn but is outside the top {k}");
        }

        int cells = expected.Count(p => p > 0);
        double chi = Reference.ChiSquare(counts, [.. expected.Select(p => (double)p)], Draws);
        Assert.IsLessThan(Reference.ChiSquareCritical001(cells - 1), chi, $"chi-square {chi:F1} over {cells - 1} degrees of freedom");
    }

    [TestMethod]
    public void ChiSquareRejectsTheDistributionOfAnotherTemperature()
    {
        var logits = Reference.RandomLogits(new Random(11), 300, 2f);
        var wrong = Reference.Softmax(Reference.TopK(Reference.Scale(logits, 0.85f), 20));
        var counts = DrawMany(logits, Plan(new TemperatureScaler(0.7f), new TopKFilter(20)), seed: 77);
        Assert.IsGreaterThan(Reference.ChiSquareCritical001(19), Reference.ChiSquare(counts, [.. wrong.Select(p => (double)p)], Draws));
    }

    [TestMethod]
    public void TiesAtTheKthValueKeepTheLowerIds()
    {
        // Ten tokens share the 3rd-highest value; k = 5 keeps the two highest and the three lowest ids of the tie.
        float[] logits = [.. Enumerable.Range(0, 100).Select(i => i is >= 40 and < 50 ? 1f : i == 7 ? 3f : i == 90 ? 2f : -1f)];
        var counts = DrawMany(logits, Plan(new TopKFilter(5)), seed: 3);
        int[] allowed = [7, 90, 40, 41, 42];
        for (int id = 0; id < logits.Length; id++)
        {
            Assert.AreEqual(allowed.Contains(id), counts[id] > 0, $"token {id}");
        }

        var expected = Reference.Softmax(Reference.TopK(logits, 5));
        Assert.IsLessThan(Reference.ChiSquareCritical001(4), Reference.ChiSquare(counts, [.. expected.Select(p => (double)p)], Draws));
    }

    [TestMethod]
    public void KEqualToVocabularyHandlesMinusInfinityAndReportsExactProbabilities()
    {
        var logits = Reference.RandomLogits(new Random(4), 1003, 4f);
        logits[5] = float.NegativeInfinity;
        logits[1000] = float.NegativeInfinity;
        var sampler = new CpuRowSampler(Plan(new TemperatureScaler(0.7f)), candidateCount: 1003);
        var result = sampler.Sample(logits, 0.5)!;
        var expected = Reference.Softmax(Reference.Scale(logits, 0.7f));
        Assert.AreEqual(expected[result.TokenId], result.Probability, 1e-6f);
        foreach (var candidate in result.Candidates)
        {
            Assert.AreEqual(expected[candidate.TokenId], candidate.Probability, 1e-6f, $"token {candidate.TokenId}");
        }

        Assert.AreEqual(0f, result.Candidates.Single(c => c.TokenId == 5).Probability);
    }

    [TestMethod]
    public void FastExpIsWithinAFewUlpOfExpAndGivesZeroForMinusInfinity()
    {
        for (double x = -87; x <= 0; x += 0.001)
        {
            float actual = FastExp.Exp(Vector256.Create((float)x)).ToScalar();
            double expected = Math.Exp((float)x);
            Assert.AreEqual(expected, actual, expected * 1e-6, $"exp({x})");
        }

        Assert.AreEqual(0f, FastExp.Exp(Vector256.Create(float.NegativeInfinity)).ToScalar());
        Assert.AreEqual(0f, FastExp.Exp(Vector256.Create(-100f)).ToScalar());
    }

    [TestMethod]
    public void ScaledFastExpEqualsFastExpBitForBitAndGivesZeroForMinusInfinity()
    {
        if (!Avx512F.IsSupported)
        {
            Assert.Inconclusive("No AVX-512 here: the scaled exp is not used.");
        }

        var random = new Random(13);
        for (int i = 0; i < 20000; i++)
        {
            // Random lanes over FastExp's range, and every 0.001 step near the window's edge.
            float[] x = [.. Enumerable.Range(0, 16).Select(lane => lane < 8 ? (float)(-87 * random.NextDouble()) : -8f + ((i * 8) + lane - 8) * 1e-4f)];
            var scaled = FastExp.ExpScaled(Vector512.Create(x));
            var plain = FastExp.Exp(Vector512.Create(x));
            for (int lane = 0; lane < 16; lane++)
            {
                Assert.AreEqual(BitConverter.SingleToInt32Bits(plain[lane]), BitConverter.SingleToInt32Bits(scaled[lane]), $"exp({x[lane]:R})");
                double expected = Math.Exp(x[lane]);
                Assert.AreEqual(expected, scaled[lane], expected * 1e-6, $"exp({x[lane]:R}) against Math.Exp");
            }
        }

        var edges = FastExp.ExpScaled(Vector512.Create(float.NegativeInfinity, -150f, -87f, 0f, -1e-30f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
        Assert.AreEqual(0f, edges[0], "-infinity (a removed token)");
        Assert.AreEqual(0f, edges[1], "-150");
        Assert.AreEqual(Math.Exp(-87), edges[2], Math.Exp(-87) * 1e-6);
        Assert.AreEqual(1f, edges[3]);
        Assert.AreEqual(1f, edges[4]);
    }

    [TestMethod]
    public void DoubleFastExpIsWithinAFewUlpOfExpOverItsRange()
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            Assert.Inconclusive("No AVX-512 here: the float64 exp is not used.");
        }

        var random = new Random(5);
        for (int i = 0; i < 20000; i++)
        {
            // Every lane its own input: small values near 0, the window's range, and down to the limit.
            double[] x = [.. Enumerable.Range(0, 8).Select(_ => FastExp.DoubleMinimum * Math.Pow(random.NextDouble(), 3))];
            x[0] = i == 0 ? 0 : x[0];
            x[1] = i == 0 ? FastExp.DoubleMinimum : x[1];
            var actual = FastExp.ExpDouble(Vector512.Create(x));
            for (int lane = 0; lane < 8; lane++)
            {
                double expected = Math.Exp(x[lane]);
                Assert.AreEqual(expected, actual[lane], expected * 5e-16, $"exp({x[lane]:R})");
            }
        }
    }

    [TestMethod]
    public void ReturnsNullForRowsTheTensorPathRejects()
    {
        var sampler = new CpuRowSampler(Plan(new TopKFilter(3)), 2);
        float[] withNaN = [.. Enumerable.Repeat(0f, 100)];
        withNaN[77] = float.NaN;
        float[] withInfinity = [.. Enumerable.Repeat(0f, 100)];
        withInfinity[63] = float.PositiveInfinity;
        float[] empty = [.. Enumerable.Repeat(float.NegativeInfinity, 100)];
        Assert.IsNull(sampler.Sample(withNaN, 0.3));
        Assert.IsNull(sampler.Sample(withInfinity, 0.3));
        Assert.IsNull(sampler.Sample(empty, 0.3));
    }

    [TestMethod]
    public void ReadsTheTensorMemoryInPlace()
    {
        // The batch sampler relies on Tensor.bytes being a view of the tensor's storage, not a copy.
        using var values = zeros(16);
        MemoryMarshal.Cast<byte, float>(values.bytes)[3] = 5f;
        Assert.AreEqual(5f, values[3].item<float>());
    }

    [TestMethod]
    public void KeepsUnknownStagesOnTheTensorPath()
    {
        Assert.IsNull(PlanOrNull(new TopKFilter(3), new TopKFilter(2)));
        Assert.IsNull(PlanOrNull(new NegatingStage()));
        Assert.IsNull(PlanOrNull(new TemperatureScaler(2f), new NegatingStage()));
        Assert.IsNull(PlanOrNull(new TopKFilter(3), new TemperatureScaler(2f), new TemperatureScaler(2f)));
        Assert.IsNull(PlanOrNull(new TemperatureScaler(2f), new TopKFilter(3), new TemperatureScaler(2f)));
        Assert.IsNull(PlanOrNull(new TopKFilter(3), new TopPFilter(0.5f, minTokensToKeep: 2)), "only minTokensToKeep 1 is on the fast path");
        Assert.IsNotNull(PlanOrNull(new TopKFilter(3), new TemperatureScaler(2f)), "top-k ranks the raw logits in either order");
        Assert.IsNotNull(PlanOrNull(new TemperatureScaler(2f), new TopKFilter(3)));
        Assert.IsNotNull(DecodingPipeline.Create(new DecodingOptions { Temperature = 0.5f, TopK = 9 }).CpuPlan);
        Assert.IsNotNull(DecodingPipeline.Create(new DecodingOptions { Greedy = true, TopP = 0.5f }).CpuPlan, "greedy keeps the argmax whatever top-p keeps");
    }

    [TestMethod]
    public void TakesEveryBuiltInStageWithOrWithoutTopK()
    {
        var both = DecodingPipeline.Create(new DecodingOptions { Temperature = 0.7f, TopK = 50, TopP = 0.9f, MinP = 0.05f }).CpuPlan;
        Assert.IsNotNull(both);
        Assert.AreEqual(0.9f, both.TopP);
        Assert.AreEqual(0.05f, both.MinP);
        Assert.IsNotNull(DecodingPipeline.Create(new DecodingOptions { TopP = 0.9f }).CpuPlan, "the default top-k 50 is set");
        Assert.IsNotNull(DecodingPipeline.Create(new DecodingOptions { TopK = 5, TopP = 0.5f }).CpuPlan);
        Assert.IsNotNull(DecodingPipeline.Create(new DecodingOptions { TopK = 5, MinP = 0.3f }).CpuPlan);
        Assert.IsNotNull(new DecodingPipelineBuilder().UseTopK(50).UseTopP(0.9f).UseMinP(0.1f).Build().CpuPlan);
        var off = DecodingPipeline.Create(new DecodingOptions { TopK = 5, TopP = 1f, MinP = 0f }).CpuPlan;
        Assert.IsNotNull(off);
        Assert.IsFalse(off.FiltersSurvivors, "top-p 1 and min-p 0 are off");
        var alone = DecodingPipeline.Create(new DecodingOptions { TopK = null, TopP = 0.9f }).CpuPlan;
        Assert.IsNotNull(alone);
        Assert.AreEqual(int.MaxValue, alone.TopK);
        Assert.IsNotNull(new DecodingPipelineBuilder().UseTemperature(0.7f).UseMinP(0.1f).Build().CpuPlan);
        var penalised = DecodingPipeline.Create(new DecodingOptions
        {
            TopK = 5, TopP = 0.9f, PresencePenalty = 0.5f, FrequencyPenalty = 0.25f, RepetitionPenalty = 1.1f, PenaltyWindow = 8,
            LogitBias = new Dictionary<int, float> { [7] = -1f, [3] = 2f },
        }).CpuPlan;
        Assert.IsNotNull(penalised);
        Assert.IsTrue(penalised.ChangesLogits && penalised.UsesHistory);
        Assert.AreEqual(1.1f, penalised.RepetitionPenalty);
        Assert.AreEqual(8, penalised.PenaltyWindow);
        CollectionAssert.AreEqual(new[] { 3, 7 }, penalised.LogitBias.Select(b => b.Key).ToArray(), "the bias is kept by ascending id");
    }

    [TestMethod]
    [DataRow(0.7f, 20, 0.9f, 0f)]
    [DataRow(1.0f, 60, 0.5f, 0f)]
    [DataRow(1.5f, 100, 1f, 0.3f)]
    [DataRow(0.7f, 250, 0.95f, 0.05f)]
    [DataRow(0.7f, 0, 0.9f, 0f)]
    [DataRow(1.0f, 0, 0.5f, 0.05f)]
    [DataRow(1.5f, 0, 1f, 0.3f)]
    public void DrawsMatchSoftmaxOfMinPOfTopPOfTopKByChiSquare(float temperature, int k, float p, float minP)
    {
        // k = 0: no top-k, so top-p and min-p select from the whole row (NucleusWindow).
        var logits = Reference.RandomLogits(new Random(12), 300, 3f);
        k = k == 0 ? logits.Length : k;
        var filtered = Reference.TopK(Reference.Scale(logits, temperature), k);
        filtered = p < 1f ? ReferenceFilters.TopP(filtered, p) : filtered;
        filtered = minP > 0f ? ReferenceFilters.MinP(filtered, minP) : filtered;
        var expected = Reference.Softmax(filtered);
        var plan = DecodingPipeline.Create(new DecodingOptions { Temperature = temperature, TopK = k < logits.Length ? k : null, TopP = p, MinP = minP }).CpuPlan!;
        var counts = DrawMany(logits, plan, seed: 78);

        for (int id = 0; id < logits.Length; id++)
        {
            Assert.IsFalse(expected[id] == 0 && counts[id] > 0, $"token {id} was drawn but is filtered out");
        }

        int cells = expected.Count(q => q > 0);
        Assert.IsLessThan(Math.Min(k, logits.Length), cells, "top-p or min-p removed some of the top-k survivors");
        double chi = Reference.ChiSquare(counts, [.. expected.Select(q => (double)q)], Draws);
        Assert.IsLessThan(Reference.ChiSquareCritical001(Math.Max(1, cells - 1)), chi, $"chi-square {chi:F1} over {cells - 1} degrees of freedom");
    }

    [TestMethod]
    [DataRow(0.7f, 0.9f)]
    [DataRow(1.5f, 0.95f)]
    [DataRow(0.4f, 0.5f)]
    public void TopPAloneOverAWideRowDrawsMatchSoftmaxOfTheNucleusByChiSquare(float temperature, float p)
    {
        // Logits spread over ±40: the nucleus is a narrow window below the maximum, far from the whole row.
        var logits = Reference.RandomLogits(new Random(13), 4000, 40f);
        var expected = Reference.Softmax(ReferenceFilters.TopP(Reference.Scale(logits, temperature), p));
        var plan = DecodingPipeline.Create(new DecodingOptions { Temperature = temperature, TopK = null, TopP = p }).CpuPlan!;
        var counts = DrawMany(logits, plan, seed: 79);

        for (int id = 0; id < logits.Length; id++)
        {
            Assert.IsFalse(expected[id] == 0 && counts[id] > 0, $"token {id} was drawn but is outside the nucleus");
        }

        int cells = expected.Count(q => q > 0);
        Assert.IsGreaterThan(3, cells, "the nucleus holds several tokens");
        Assert.IsLessThan(logits.Length / 4, cells, "the nucleus is a small part of the row");
        double chi = Reference.ChiSquare(counts, [.. expected.Select(q => (double)q)], Draws);
        Assert.IsLessThan(Reference.ChiSquareCritical001(cells - 1), chi, $"chi-square {chi:F1} over {cells - 1} degrees of freedom");
    }

    [TestMethod]
    public void TopPKeepsTheCrossingTokenAndTiesGoToTheLowerIds()
    {
        // Four tied tokens of probability 1/4 after top-k 4: p = 0.5 keeps exactly two (the mass before the third is
        // 0.5, not below p), and the tie ranks ids 10 and 20 first; p = 0.6 keeps the crossing third (id 30). Without a
        // top-k the other tokens are -infinity, so the four have the same probabilities.
        foreach (var (p, allowed, k) in new[] { (0.5f, new[] { 10, 20 }, (int?)4), (0.6f, new[] { 10, 20, 30 }, 4), (0.5f, new[] { 10, 20 }, null), (0.6f, new[] { 10, 20, 30 }, null) })
        {
            float[] logits = [.. Enumerable.Range(0, 50).Select(i => i is 10 or 20 or 30 or 40 ? 2f : k is null ? float.NegativeInfinity : 0f)];
            var plan = DecodingPipeline.Create(new DecodingOptions { Temperature = 1f, TopK = k, TopP = p }).CpuPlan!;
            var sampler = new CpuRowSampler(plan, candidateCount: 4);
            var seen = new HashSet<int>();
            var random = new SamplingRandom(9);
            for (int d = 0; d < 2000; d++)
            {
                var result = sampler.Sample(logits, random.NextDouble())!;
                seen.Add(result.TokenId);
                Assert.AreEqual(1f / allowed.Length, result.Probability, 1e-6f, $"p {p}");
                foreach (var candidate in result.Candidates)
                {
                    bool kept = allowed.Contains(candidate.TokenId);
                    Assert.AreEqual(kept ? 2f : float.NegativeInfinity, candidate.ProcessedLogit, $"p {p}, token {candidate.TokenId}");
                    Assert.AreEqual(kept ? 1f / allowed.Length : 0f, candidate.Probability, 1e-6f, $"p {p}, token {candidate.TokenId}");
                }
            }

            CollectionAssert.AreEquivalent(allowed, seen.ToArray(), $"p {p}");
        }
    }

    private sealed class NegatingStage : ILogitsStage
    {
        public Tensor Apply(Tensor logits) => logits.neg();
    }

    public static IEnumerable<object[]> FloorRows()
    {
        const int n = 50257;
        var random = new Random(21);
        float[] Row(Func<int, float> value) => Enumerable.Range(0, n).Select(value).ToArray();
        float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        for (int r = 0; r < 8; r++)
        {
            yield return [$"normal {r}", Row(_ => 3 * Normal())];
        }

        // Coarse values: ties at the k-th value and at the floor; a floor / T equal to the k-th key forces the exact rescan.
        for (int r = 0; r < 4; r++)
        {
            yield return [$"quarters {r}", Row(_ => MathF.Round(12 * Normal()) / 4)];
        }

        yield return ["constant", Row(_ => 1.5f)];
        yield return ["two values", Row(i => i % 97 == 0 ? 2f : 1f)];
        // The top 60 sit between the sampled positions, so the sample sees only the background.
        yield return ["hidden top", Row(i => i % 49 == 3 && i < 60 * 49 ? 5f + i * 1e-4f : -1f)];
        yield return ["ascending", Row(i => i * 1e-3f)];
        yield return ["descending", Row(i => -i * 1e-3f)];
        yield return ["mostly -inf", Row(i => i % 1500 == 7 ? Normal() : float.NegativeInfinity)];
        // Distinct raw values whose scaled keys round to the same float32.
        yield return ["close values", Row(i => 1f + (i % 64) * 1.1920929e-7f)];
    }

    [TestMethod]
    [DynamicData(nameof(FloorRows))]
    public void TheSampledFloorBufferAndDerivedCandidatesChangeNoResult(string name, float[] row)
    {
        ILogitsStage[][] plans =
        [
            [new TemperatureScaler(0.7f), new TopKFilter(50)],
            [new TopKFilter(50), new TemperatureScaler(0.7f)],
            [new TemperatureScaler(0.3f), new TopKFilter(7)],
            [new TemperatureScaler(1.3f), new TopKFilter(200)],
            [new TemperatureScaler(0.7f)],
            [new TemperatureScaler(0f), new TopKFilter(5)],
            [new TemperatureScaler(0.7f), new TopKFilter(50), new TopPFilter(0.9f), new MinPFilter(0.05f)],
            [new TemperatureScaler(1.3f), new TopKFilter(200), new TopPFilter(0.5f)],
        ];
        foreach (var stages in plans)
        {
            foreach (int candidateCount in new[] { 0, 1, 7, 10, 50, 64 })
            {
                var floored = new CpuRowSampler(Plan(stages), candidateCount);
                var exact = new CpuRowSampler(Plan(stages), candidateCount) { UseFloor = false, DeriveCandidates = false, UseBuffer = false };
                var bufferedWithoutFloor = new CpuRowSampler(Plan(stages), candidateCount) { UseFloor = false };
                var random = new SamplingRandom(5);
                for (int d = 0; d < 5; d++)
                {
                    double u = random.NextDouble();
                    var a = floored.Sample(row, u);
                    var b = exact.Sample(row, u);
                    var c = bufferedWithoutFloor.Sample(row, u);
                    string what = $"{name}, {string.Join(" ", stages.Select(s => s.ToString()))}, {candidateCount} candidates, draw {d}";
                    Assert.IsNotNull(a, what);
                    Assert.IsNotNull(b, what);
                    Assert.AreEqual(b.TokenId, a.TokenId, what);
                    Assert.AreEqual(b.Probability, a.Probability, what);
                    CollectionAssert.AreEqual(b.Candidates.ToArray(), a.Candidates.ToArray(), what);
                    Assert.IsNotNull(c, what);
                    Assert.AreEqual(b.TokenId, c.TokenId, $"{what}, buffered without a floor");
                    Assert.AreEqual(b.Probability, c.Probability, $"{what}, buffered without a floor");
                    CollectionAssert.AreEqual(b.Candidates.ToArray(), c.Candidates.ToArray(), $"{what}, buffered without a floor");
                }
            }
        }
    }
}

[TestClass]
public sealed class BufferedTopKTests
{
    [TestMethod]
    public void SelectDescendingFindsEveryRankOfRowsWithTies()
    {
        var random = new Random(3);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = 1 + random.Next(200);
            int levels = 1 + random.Next(trial % 3 == 0 ? 3 : 1000);
            var values = Enumerable.Range(0, n).Select(_ => (float)random.Next(levels) - (levels / 2)).ToArray();
            var sorted = values.OrderByDescending(v => v).ToArray();
            int index = random.Next(n);

            float selected = BufferedTopK.SelectDescending(values.ToArray(), index);

            Assert.AreEqual(sorted[index], selected, $"trial {trial}, n = {n}, index {index}");
        }
    }

    [TestMethod]
    public void CompactKeepsTheBestKInIdOrderWithLowerIdsWinningTies()
    {
        var random = new Random(8);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = 2 + random.Next(150);
            int k = 1 + random.Next(n - 1);
            var entries = Enumerable.Range(0, n).Select(id => { float v = random.Next(1 + (trial % 5 == 0 ? 2 : 40)); return new RankedEntry(v, v, id); }).ToArray();
            var expected = entries.OrderByDescending(e => e.Key).ThenBy(e => e.Id).Take(k).OrderBy(e => e.Id).ToArray();
            var buffer = entries.ToArray();

            int kept = BufferedTopK.Compact(buffer, new float[n], n, k, out float threshold);

            Assert.AreEqual(k, kept);
            CollectionAssert.AreEqual(expected, buffer.Take(k).ToArray(), $"trial {trial}, n = {n}, k = {k}");
            Assert.AreEqual(expected.Min(e => e.Key), threshold, $"trial {trial}: the threshold is the worst kept value");
        }
    }
}
