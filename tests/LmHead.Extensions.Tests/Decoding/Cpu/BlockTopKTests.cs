using System.Runtime.Intrinsics;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

[TestClass]
public sealed class BlockTopKTests
{
    /// <summary>The best k of <paramref name="row"/> by a plain sort (value descending, lower id first), in id order.</summary>
    private static RankedEntry[] ExpectedTopK(float[] row, int k) =>
        [.. row.Select((v, id) => new RankedEntry(v, v, id)).OrderByDescending(e => e.Key).ThenBy(e => e.Id).Take(k).OrderBy(e => e.Id)];

    private static (bool Valid, RankedEntry[] Kept, float Max) Run(float[] row, int k)
    {
        float[] maxima = [];
        var buffer = new RankedEntry[Math.Max(2 * k, 64)];
        bool valid = BlockTopK.Run(row, k, ref maxima, buffer, new float[buffer.Length], out int count, out float max);
        return (valid, buffer.Take(count).ToArray(), max);
    }

    public static IEnumerable<object[]> Rows()
    {
        var random = new Random(41);
        float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        float[] Row(int n, Func<int, float> value) => [.. Enumerable.Range(0, n).Select(value)];
        // Lengths: whole blocks only, a tail of 1 and of 127 values, and GPT-2's vocabulary (a tail of 81).
        foreach (int n in new[] { 4 * 50 * BlockTopK.Block, 4 * 50 * BlockTopK.Block + 1, 4 * 50 * BlockTopK.Block + 127, 50257 })
        {
            yield return [$"normal, n = {n}", Row(n, _ => 3 * Normal()), 50];
            yield return [$"quarters, n = {n}", Row(n, _ => MathF.Round(12 * Normal()) / 4), 50];
        }

        yield return ["k = 1", Row(50257, _ => Normal()), 1];
        yield return ["k = 7", Row(50257, _ => Normal()), 7];
        yield return ["k = 98 (the largest k for 392 blocks)", Row(50257, _ => Normal()), 98];
        yield return ["constant", Row(50257, _ => 1.5f), 50];
        yield return ["two values", Row(50257, i => i % 97 == 0 ? 2f : 1f), 50];
        yield return ["ascending", Row(50257, i => i * 1e-3f), 50];
        yield return ["descending", Row(50257, i => -i * 1e-3f), 50];
        yield return ["the top 60 in one block", Row(50257, i => i is >= 1000 and < 1060 ? 5f + i * 1e-3f : Normal()), 50];
        yield return ["the best in the tail", Row(50257, i => i >= 50200 ? 9f + i * 1e-4f : Normal()), 50];
        yield return ["signed zeros and negatives", Row(50257, i => i % 3 == 0 ? (i % 2 == 0 ? 0f : -0f) : -1f - (i % 7)), 50];
        yield return ["-infinity in whole blocks", Row(50257, i => (i / BlockTopK.Block) % 2 == 0 ? float.NegativeInfinity : Normal()), 50];
        yield return ["close values", Row(50257, i => 1f + (i % 64) * 1.1920929e-7f), 50];
    }

    [TestMethod]
    [DynamicData(nameof(Rows))]
    public void KeepsExactlyTheBestKInIdOrderWithLowerIdsWinningTies(string name, float[] row, int k)
    {
        if (!BlockTopK.Serves(row.Length, k))
        {
            Assert.Inconclusive("No 16-lane vectors on this machine.");
        }

        var (valid, kept, max) = Run(row, k);

        Assert.IsTrue(valid, name);
        CollectionAssert.AreEqual(ExpectedTopK(row, k), kept, name);
        Assert.AreEqual(row.Max(), max, name);
    }

    [TestMethod]
    public void ReportsNoSurvivorsWhenFewerThanKBlocksHoldAFiniteValue()
    {
        var row = Enumerable.Range(0, 50257).Select(i => i % 5000 == 3 ? (float)i : float.NegativeInfinity).ToArray();
        if (!BlockTopK.Serves(row.Length, 50))
        {
            Assert.Inconclusive("No 16-lane vectors on this machine.");
        }

        var (valid, kept, max) = Run(row, 50);

        Assert.IsTrue(valid);
        Assert.AreEqual(0, kept.Length, "the caller takes the heap path, which keeps -infinity entries exactly");
        Assert.AreEqual(50003f, max);
    }

    [TestMethod]
    public void RejectsNaNAndPositiveInfinityAnywhereInTheRow()
    {
        foreach (int n in new[] { 50257, 4 * 50 * BlockTopK.Block })
        {
            if (!BlockTopK.Serves(n, 50))
            {
                Assert.Inconclusive("No 16-lane vectors on this machine.");
            }

            // Every lane of a block (both sides of each unordered compare), the first and last entries, and the tail.
            foreach (int at in new[] { 0, 1, 15, 16, 17, 31, 63, 64, 127, 128, 200, n / 2, n - 1 })
            {
                foreach (float bad in new[] { float.NaN, float.PositiveInfinity })
                {
                    var row = Enumerable.Range(0, n).Select(i => (float)Math.Sin(i)).ToArray();
                    row[at] = bad;
                    Assert.IsFalse(Run(row, 50).Valid, $"{bad} at {at} of {n}");
                }
            }
        }
    }

    [TestMethod]
    public void BlockMaximaAreEachBlocksLargestValue()
    {
        var random = new Random(5);
        foreach (int n in new[] { 128, 129, 255, 1000, 50257 })
        {
            var row = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() * 100 - 50).ToArray();
            var maxima = new float[(n + BlockTopK.Block - 1) / BlockTopK.Block];

            Assert.IsTrue(BlockTopK.BlockMaxima(row, maxima, out float max));

            for (int b = 0; b < maxima.Length; b++)
            {
                Assert.AreEqual(row.Skip(b * BlockTopK.Block).Take(BlockTopK.Block).Max(), maxima[b], $"n = {n}, block {b}");
            }

            Assert.AreEqual(row.Max(), max, $"n = {n}");
        }
    }

    [TestMethod]
    public void BlockMaximaThrowsWhenTheMaximaCannotHoldEveryBlock()
    {
        var row = new float[2 * BlockTopK.Block + 1];

        Assert.ThrowsExactly<ArgumentException>(() => { BlockTopK.BlockMaxima(row, new float[2], out _); });
    }

    [TestMethod]
    public void FloorIsReachedByAtLeastKMaximaAndByAtMostAFewMoreOfDistinctOnes()
    {
        var random = new Random(9);
        for (int trial = 0; trial < 200; trial++)
        {
            int count = 16 + random.Next(800);
            int k = 1 + random.Next(count / 4);
            var maxima = Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();

            float floor = BlockTopK.Floor(maxima, k, maxima.Max());

            int reaching = maxima.Count(m => m >= floor);
            Assert.IsTrue(reaching >= k, $"trial {trial}: {reaching} maxima reach the floor, k = {k}");
            Assert.IsTrue(reaching <= k + Math.Max(4, k / 8), $"trial {trial}: {reaching} maxima reach the floor, k = {k}");
        }
    }

    [TestMethod]
    public void OrderKeysOrderAsTheFloatsDo()
    {
        float[] values = [float.NegativeInfinity, -float.MaxValue, -1f, -float.Epsilon, -0f, 0f, float.Epsilon, 1f, float.MaxValue, float.PositiveInfinity];
        for (int i = 0; i + 1 < values.Length; i++)
        {
            Assert.IsTrue(BlockTopK.OrderKey(values[i]) < BlockTopK.OrderKey(values[i + 1]), $"{values[i]} < {values[i + 1]}");
            Assert.AreEqual(BitConverter.SingleToInt32Bits(values[i]), BitConverter.SingleToInt32Bits(BlockTopK.FromOrderKey(BlockTopK.OrderKey(values[i]))));
        }
    }

    [TestMethod]
    public void TheSamplerGivesTheSameResultsWithAndWithoutBlockMaxima()
    {
        var random = new Random(13);
        var plan = DecodingPipeline.Create(new DecodingOptions { Temperature = 0.7f, TopK = 50 }).CpuPlan!;
        for (int r = 0; r < 20; r++)
        {
            float scale = r % 2 == 0 ? 3f : 1f;
            var row = Enumerable.Range(0, 50257).Select(_ => scale * (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();
            foreach (int candidates in new[] { 0, 10 })
            {
                var blocks = new CpuRowSampler(plan, candidates);
                var buffered = new CpuRowSampler(plan, candidates) { UseBlockMaxima = false };
                var exact = new CpuRowSampler(plan, candidates) { UseBlockMaxima = false, UseBuffer = false, UseFloor = false, DeriveCandidates = false };
                for (int d = 0; d < 5; d++)
                {
                    double u = random.NextDouble();
                    var a = blocks.Sample(row, u, null, new LogProbabilityRequest(5, false))!;
                    var b = buffered.Sample(row, u, null, new LogProbabilityRequest(5, false))!;
                    var c = exact.Sample(row, u, null, new LogProbabilityRequest(5, false))!;
                    foreach (var other in new[] { b, c })
                    {
                        Assert.AreEqual(other.TokenId, a.TokenId, $"row {r}, draw {d}");
                        Assert.AreEqual(other.Probability, a.Probability, $"row {r}, draw {d}");
                        CollectionAssert.AreEqual(other.Candidates.ToArray(), a.Candidates.ToArray(), $"row {r}, draw {d}");
                        Assert.AreEqual(other.LogProbabilities!.Chosen, a.LogProbabilities!.Chosen, $"row {r}, draw {d}");
                        CollectionAssert.AreEqual(other.LogProbabilities.Top.ToArray(), a.LogProbabilities.Top.ToArray(), $"row {r}, draw {d}");
                    }
                }
            }
        }
    }
}
