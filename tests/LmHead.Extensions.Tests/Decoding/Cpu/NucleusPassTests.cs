using LmHead.Extensions.Decoding.Cpu;

namespace LmHead.Extensions.Tests.Decoding.Cpu;

/// <summary>
/// The fused top-p pass (<see cref="NucleusPass"/>) and the packed ranking keys of <see cref="SurvivorFilter"/> against
/// plain double-precision loops and a comparer sort.
/// </summary>
[TestClass]
public sealed class NucleusPassTests
{
    private static float[] Row(int length, double scale, int seed)
    {
        var random = new Random(seed);
        var row = new float[length];
        for (int i = 0; i < length; i++)
        {
            // Box-Muller: normal logits, as a language model's are roughly.
            double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
            row[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return row;
    }

    [TestMethod]
    [DataRow(50257, 3.0, 0.7f)]
    [DataRow(4000, 0.1, 1f)]
    [DataRow(4000, 8.0, 0.3f)]
    [DataRow(61, 3.0, 0.7f)]
    public void NormaliserMatchesADoubleSumAndCollectsEveryEntryNearTheMaximum(int length, double scale, float temperature)
    {
        var row = Row(length, scale, 5);
        float maxProcessed = row.Max() / temperature;
        int[] ids = new int[4];
        float[] weights = new float[4];
        double total = NucleusPass.NormaliserAndCollect(row, temperature, maxProcessed, ref ids, ref weights, out int count);

        double expected = 0;
        var expectedIds = new List<int>();
        for (int i = 0; i < length; i++)
        {
            double below = maxProcessed - ((double)row[i] / temperature);
            expected += Math.Exp(-below);
            // Well inside or outside the collection width (rounding may decide within 1e-3 of it).
            if (below < NucleusPass.CollectWidth - 1e-3)
            {
                expectedIds.Add(i);
            }
            else if (below < NucleusPass.CollectWidth + 1e-3)
            {
                expectedIds.Add(-1 - i);
            }
        }

        Assert.AreEqual(expected, total, 1e-5 * expected, "normaliser");
        var collected = ids.AsSpan(0, count).ToArray();
        CollectionAssert.AreEqual(collected.Order().ToArray(), collected, "in id order");
        var idSet = collected.ToHashSet();
        Assert.HasCount(collected.Length, idSet, "no entry twice");
        foreach (int id in expectedIds.Where(id => id >= 0))
        {
            Assert.Contains(id, idSet, $"entry {id} is within the width");
        }

        Assert.IsTrue(idSet.All(id => expectedIds.Contains(id) || expectedIds.Contains(-1 - id)), "only entries near the maximum are collected");
        for (int c = 0; c < count; c++)
        {
            double weight = Math.Exp(((double)row[ids[c]] / temperature) - maxProcessed);
            Assert.AreEqual(weight, weights[c], 1e-5 * weight, $"weight of {ids[c]}");
        }
    }

    [TestMethod]
    [DataRow(0.5f, 3.0)]
    [DataRow(0.9f, 3.0)]
    [DataRow(0.8f, 3.0)]
    [DataRow(0.5f, 1.0)]
    [DataRow(0.9f, 1.0)]
    [DataRow(0.97f, 1.0)]
    public void NarrowestWidthHoldsPOfTheMassAndANarrowerOneDoesNot(float topP, double scale)
    {
        // randn · 3 collects about a thousand entries (a histogram); randn · 1 about 47,000 (measured by levels).
        var row = Row(50257, scale, 9);
        const float Temperature = 0.7f;
        float maxProcessed = row.Max() / Temperature;
        int[] ids = [];
        float[] weights = [];
        double total = NucleusPass.NormaliserAndCollect(row, Temperature, maxProcessed, ref ids, ref weights, out int count);
        double width = NucleusPass.NarrowestWidth(row, ids.AsSpan(0, count), weights.AsSpan(0, count), Temperature, maxProcessed, total, topP);
        Assert.AreEqual(scale < 2, count > NucleusPass.LevelsAbove, $"{count} entries collected: the path meant for this row");

        double MassWithin(double w) => row.Select(x => maxProcessed - ((double)x / Temperature)).Where(b => b < w).Sum(b => Math.Exp(-b));
        Assert.IsGreaterThan(0, width, "a window of this row holds p");
        Assert.IsGreaterThanOrEqualTo(topP * total, MassWithin(width + 1e-3), "the window holds p of the mass");
        Assert.IsLessThan((topP + 1e-3) * total, MassWithin(width - 0.125 - 1e-3), "one bin narrower does not");
    }

    [TestMethod]
    public void AFlatRowIsCollectedWholeAndMassBeyondTheWidestWindowGivesNoWidth()
    {
        // A flat row: every entry has about the same weight, so p = 0.9 needs almost the whole row, all of it collected.
        var row = Row(4000, 0.01, 3);
        float maxProcessed = row.Max();
        int[] ids = [];
        float[] weights = [];
        double total = NucleusPass.NormaliserAndCollect(row, 1f, maxProcessed, ref ids, ref weights, out int count);
        Assert.AreEqual(4000, count);
        Assert.IsGreaterThan(0, NucleusPass.NarrowestWidth(row, ids.AsSpan(0, count), weights.AsSpan(0, count), 1f, maxProcessed, total, 0.9f));

        // Two far apart groups: the second holds most of the mass but lies beyond the widest window below the maximum.
        var split = Enumerable.Repeat(0f, 100).Concat([20f]).Concat(Enumerable.Repeat(10f, 3000)).ToArray();
        double splitTotal = NucleusPass.NormaliserAndCollect(split, 1f, 20f, ref ids, ref weights, out count);
        Assert.AreEqual(0, NucleusPass.NarrowestWidth(split, ids.AsSpan(0, count), weights.AsSpan(0, count), 1f, 20f, splitTotal, 0.9f));
    }

    [TestMethod]
    public void RankKeysSortLikeTheStableDescendingSort()
    {
        var random = new Random(11);
        float[] values = [.. Enumerable.Range(0, 2000).Select(i => i % 7 == 0 ? float.NegativeInfinity : i % 11 == 0 ? -0f : i % 13 == 0 ? 0f : MathF.Round((float)(random.NextDouble() * 20 - 10), 1))];
        var keys = values.Select((v, i) => SurvivorFilter.RankKey(v, i)).ToArray();
        Array.Sort(keys);
        int[] expected = [.. Enumerable.Range(0, values.Length).OrderByDescending(i => values[i]).ThenBy(i => i)];
        CollectionAssert.AreEqual(expected, keys.Select(k => (int)(uint)k).ToArray());
    }

    [TestMethod]
    [DataRow(600, 1.0, 0.3f)]
    [DataRow(5000, 1.0, 0.9f)]
    [DataRow(5000, 0.25, 0.99f)]
    [DataRow(20000, 3.0, 0.95f)]
    public void TopPOverManySurvivorsKeepsExactlyWhatAFullSortKeeps(int count, double scale, float topP)
    {
        // Above SurvivorFilter.BucketedAbove entries, top-p walks buckets instead of sorting; the reference is the rule
        // itself: rank by processed logit (lower position first), keep while the mass before a token is below p.
        var random = new Random(count);
        float[] processed = [.. Row(count, scale, count + 1).Select(v => random.Next(5) == 0 ? MathF.Round(v, 1) : v)];
        processed[count / 2] = float.NegativeInfinity;
        float max = processed.Max();
        double[] weights = [.. processed.Select(v => Math.Exp((double)v - max))];
        double total = weights.Sum();
        int[] ranking = [.. Enumerable.Range(0, count).OrderByDescending(i => processed[i]).ThenBy(i => i)];
        var expectedKept = new bool[count];
        double cumulative = 0;
        for (int r = 0; r < count; r++)
        {
            double probability = weights[ranking[r]] / total;
            cumulative += probability;
            expectedKept[ranking[r]] = r == 0 || cumulative - probability < topP;
        }

        float[] filteredProcessed = [.. processed];
        double[] filteredWeights = [.. weights];
        double left = SurvivorFilter.Apply(filteredProcessed, filteredWeights, total, topP, 0f, new ulong[count]);

        Assert.IsTrue(count > SurvivorFilter.BucketedAbove || count == 600);
        for (int i = 0; i < count; i++)
        {
            bool kept = expectedKept[i] && weights[i] > 0;
            Assert.AreEqual(kept ? weights[i] : 0, filteredWeights[i], $"weight of position {i}");
            Assert.AreEqual(kept ? processed[i] : float.NegativeInfinity, filteredProcessed[i], $"processed logit of position {i}");
        }

        Assert.AreEqual(Enumerable.Range(0, count).Where(i => expectedKept[i]).Sum(i => weights[i]), left, 1e-12 * total);
        Assert.IsTrue(expectedKept.Count(k => k) > 1, "the case keeps more than the top token");
    }
}
