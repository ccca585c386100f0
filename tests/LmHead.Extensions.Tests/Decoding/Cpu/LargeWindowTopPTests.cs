using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

/// <summary>
/// Top-p alone over flat rows, where thousands of tokens are near the maximum and the row sampler finds the nucleus by
/// bins (<see cref="NucleusCrossing"/>): against the tensor path, the ranked window path, a plain C# top-p and
/// hand-worked ties.
/// </summary>
[TestClass]
public sealed class LargeWindowTopPTests
{
    /// <summary>Wide enough that a <c>randn</c> row puts more than <see cref="CpuRowSampler.LargeWindowAbove"/> entries near its maximum.</summary>
    private const int Vocabulary = 12_000;

    private static CpuSamplingPlan Plan(float temperature, float p) =>
        DecodingPipeline.Create(new DecodingOptions { Temperature = temperature, TopK = null, TopP = p }).CpuPlan!;

    [TestMethod]
    [DataRow(0.7f, 0.9f)]
    [DataRow(1f, 0.5f)]
    [DataRow(1.5f, 0.99f)]
    [DataRow(0.7f, 0.95f)]
    public void FlatRowsChooseTheSameTokensAndCandidatesAsTheTensorPath(float temperature, float p)
    {
        using var plain = randn(300, Vocabulary, generator: new TorchSharp.torch.Generator(21));
        // Eighths and halves: ties inside the zone, ranked by the lower id on both paths.
        using var eighths = plain.mul(8).round().div(8);
        using var halves = plain.mul(2).round().div(2);
        FastPathAgreementTests.AssertPathsAgree($"flat {Vocabulary}, T {temperature}, top-p {p}", b => b.UseTemperature(temperature).UseTopP(p), plain, eighths, halves);

        // The rows above took the binned path (else this test would compare the ranked window again).
        var sampler = new CpuRowSampler(Plan(temperature, p), 10);
        float[] row = [.. plain[0].data<float>()];
        sampler.Sample(row, 0.5);
        Assert.AreEqual(1, sampler.LargeWindowRows, "the flat row took the binned path");
    }

    [TestMethod]
    [DataRow(0.7f, 0.9f, 1f)]
    [DataRow(1f, 0.5f, 8f)]
    [DataRow(1.5f, 0.99f, 2f)]
    public void BinnedAndRankedPathsChooseTheSameTokens(float temperature, float p, float roundTo)
    {
        // roundTo: values rounded to 1/roundTo, so the zone holds ties (1 = integers: large tie groups).
        var plan = Plan(temperature, p);
        var binned = new CpuRowSampler(plan, 5);
        var ranked = new CpuRowSampler(plan, 5) { UseLargeWindow = false };
        var random = new Random(31);
        int mismatches = 0, rows = 200;
        for (int r = 0; r < rows; r++)
        {
            float[] row = [.. Enumerable.Range(0, 20_000 + r).Select(_ => MathF.Round(Gaussian(random) * roundTo) / roundTo)];
            double u = random.NextDouble();
            var a = binned.Sample(row, u)!;
            var b = ranked.Sample(row, u)!;
            mismatches += a.TokenId == b.TokenId ? 0 : 1;
            Assert.AreEqual(b.Probability, a.Probability, 1e-6f, $"row {r}");
            for (int c = 0; c < a.Candidates.Count; c++)
            {
                Assert.AreEqual(b.Candidates[c].TokenId, a.Candidates[c].TokenId, $"row {r} candidate {c}");
                Assert.AreEqual(b.Candidates[c].ProcessedLogit, a.Candidates[c].ProcessedLogit, $"row {r} candidate {c}");
                Assert.AreEqual(b.Candidates[c].Probability, a.Candidates[c].Probability, 1e-6f, $"row {r} candidate {c}");
            }
        }

        Assert.AreEqual(rows, binned.LargeWindowRows, "every row took the binned path");
        Assert.AreEqual(0, ranked.LargeWindowRows);
        Assert.IsLessThanOrEqualTo(1, mismatches, $"{mismatches} of {rows} rows chose differently");
    }

    [TestMethod]
    [DataRow(0.7f, 0.9f)]
    [DataRow(1.2f, 0.6f)]
    public void DrawsStayInsideTheNucleusOfAPlainTopPWithItsProbabilities(float temperature, float p)
    {
        var random = new Random(41);
        float[] logits = [.. Enumerable.Range(0, 9000).Select(_ => MathF.Round(Gaussian(random) * 4) / 4)];
        var expected = Reference.Softmax(ReferenceFilters.TopP(Reference.Scale(logits, temperature), p));
        var sampler = new CpuRowSampler(Plan(temperature, p), 0);
        var draws = new SamplingRandom(43);
        var seen = new HashSet<int>();
        for (int d = 0; d < 20_000; d++)
        {
            var result = sampler.Sample(logits, draws.NextDouble())!;
            Assert.IsGreaterThan(0f, expected[result.TokenId], $"token {result.TokenId} is outside the nucleus");
            Assert.AreEqual(expected[result.TokenId], result.Probability, 1e-6f + (1e-5f * expected[result.TokenId]), $"token {result.TokenId}");
            seen.Add(result.TokenId);
        }

        Assert.AreEqual(20_000, sampler.LargeWindowRows);
        int nucleus = expected.Count(q => q > 0);
        Assert.IsGreaterThan(1000, nucleus, "the nucleus holds thousands of tokens");
        Assert.IsGreaterThan(nucleus / 2, seen.Count, "draws spread over the nucleus");
        // The lowest-probability members are drawn too: the crossing is not cut short.
        Assert.IsTrue(seen.Any(id => expected[id] <= expected.Where(q => q > 0).Min() * 1.0001f), "a token at the nucleus's edge was drawn");
    }

    [TestMethod]
    [DataRow(0.5f, 3000)]
    [DataRow(0.50001f, 3001)]
    [DataRow(0.9f, 5400)]
    public void AllTiedRowKeepsTheLowestIdsUpToTheCrossing(float p, int kept)
    {
        // 6000 equal logits: the mass before rank r is r / 6000, kept while below p; ties rank by id, so exactly the ids
        // below the count kept survive, each with probability 1 / kept.
        float[] logits = [.. Enumerable.Repeat(1.25f, 6000)];
        var sampler = new CpuRowSampler(Plan(1f, p), 3);
        var draws = new SamplingRandom(47);
        int highest = 0;
        for (int d = 0; d < 20_000; d++)
        {
            var result = sampler.Sample(logits, draws.NextDouble())!;
            Assert.IsLessThan(kept, result.TokenId);
            Assert.AreEqual(1f / kept, result.Probability, 1e-7f);
            highest = Math.Max(highest, result.TokenId);
            Assert.AreEqual(1f / kept, result.Candidates[0].Probability, 1e-7f);
        }

        Assert.IsGreaterThan(kept - 20, highest, "the tokens just below the crossing are drawn");
        Assert.AreEqual(20_000, sampler.LargeWindowRows);
        Assert.AreEqual(kept - 1, sampler.Sample(logits, 1 - 1e-12)!.TokenId, "u near 1 chooses the last member");
        Assert.AreEqual(0, sampler.Sample(logits, 0)!.TokenId, "u = 0 chooses the first member");
    }

    [TestMethod]
    public void BinsFollowTheWeightsOrder()
    {
        Assert.AreEqual(0, NucleusCrossing.Bin(1f));
        Assert.AreEqual(0, NucleusCrossing.Bin(1.0000001f), "rounding just above 1 is the top bin");
        Assert.AreEqual(128, NucleusCrossing.Bin(0.5f), "128 bins per octave");
        Assert.AreEqual(NucleusCrossing.BinCount - 1, NucleusCrossing.Bin(0f));
        Assert.AreEqual(NucleusCrossing.BinCount - 1, NucleusCrossing.Bin(1e-30f));
        int previous = 0;
        for (float y = 0; y > -8; y -= 1e-3f)
        {
            int bin = NucleusCrossing.Bin(MathF.Exp(y));
            Assert.IsTrue(bin == previous || bin == previous + 1, $"y {y}: bin {bin} after {previous}");
            previous = bin;
        }

        Assert.IsGreaterThan(NucleusCrossing.LowestZoneBin, previous, "the bins reach past the lowest zone bin within the collected window");
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(7)]
    [DataRow(8)]
    [DataRow(63)]
    [DataRow(64)]
    [DataRow(65)]
    [DataRow(1001)]
    public void HistogramAndKeepThroughMatchAPlainLoopAtEdgeLengths(int length)
    {
        var random = new Random(length);
        float[] weights = [.. Enumerable.Range(0, length).Select(i => i % 5 == 0 ? 0f : MathF.Exp(-(float)random.NextDouble() * 9))];
        var mass = new double[NucleusCrossing.BinCount];
        NucleusCrossing.Histogram(weights, mass);
        var expected = new double[NucleusCrossing.BinCount];
        foreach (float w in weights)
        {
            expected[Math.Clamp((0x3F80_0000 - BitConverter.SingleToInt32Bits(w)) >> 16, 0, NucleusCrossing.BinCount - 1)] += w;
        }

        for (int b = 0; b < expected.Length; b++)
        {
            Assert.AreEqual(expected[b], mass[b], 1e-12 * Math.Max(1, expected[b]), $"bin {b}");
        }

        int[] zone = [];
        int count = NucleusCrossing.CollectZone(weights, 300, 700, ref zone);
        int[] inZone = [.. Enumerable.Range(0, length).Where(i => NucleusCrossing.Bin(weights[i]) is >= 300 and <= 700)];
        CollectionAssert.AreEqual(inZone, zone[..count]);

        var blockSums = new double[(length + CpuRowSampler.Block - 1) / CpuRowSampler.Block];
        float[] kept = [.. weights];
        double total = NucleusCrossing.KeepThrough(kept, 500, blockSums);
        double sum = 0;
        for (int i = 0; i < length; i++)
        {
            float want = NucleusCrossing.Bin(weights[i]) <= 500 ? weights[i] : 0f;
            Assert.AreEqual(want, kept[i], $"weight {i}");
            sum += want;
        }

        Assert.AreEqual(sum, total, 1e-5 * Math.Max(1, sum));
        Assert.AreEqual(total, blockSums.Sum(), 1e-12 * Math.Max(1, total));
    }

    private static float Gaussian(Random random) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
}
