namespace LmHead.Extensions.Tests;

/// <summary>Independent plain-C# computations the tensor code is checked against.</summary>
internal static class Reference
{
    public static float[] Softmax(float[] logits)
    {
        double max = double.NegativeInfinity;
        foreach (var l in logits)
        {
            max = Math.Max(max, l);
        }

        var exp = logits.Select(l => float.IsNegativeInfinity(l) ? 0.0 : Math.Exp(l - max)).ToArray();
        double sum = exp.Sum();
        return [.. exp.Select(e => (float)(e / sum))];
    }

    /// <summary>Top-k by a full stable sort: descending value, ascending id on ties.</summary>
    public static float[] TopK(float[] logits, int k)
    {
        var keep = logits.Select((v, i) => (v, i)).OrderByDescending(t => t.v).ThenBy(t => t.i).Take(k).Select(t => t.i).ToHashSet();
        return [.. logits.Select((v, i) => keep.Contains(i) ? v : float.NegativeInfinity)];
    }

    public static float[] Scale(float[] logits, float temperature) => [.. logits.Select(l => l / temperature)];

    public static float[] Project(float[,] weight, float[]? bias, float[] hidden)
    {
        int v = weight.GetLength(0), d = weight.GetLength(1);
        var result = new float[v];
        for (int i = 0; i < v; i++)
        {
            double sum = bias?[i] ?? 0;
            for (int j = 0; j < d; j++)
            {
                sum += weight[i, j] * hidden[j];
            }

            result[i] = (float)sum;
        }

        return result;
    }

    /// <summary>The chi-square critical value at the 0.1% level (Wilson–Hilferty approximation).</summary>
    public static double ChiSquareCritical001(int degreesOfFreedom)
    {
        const double z = 3.090232;
        double k = degreesOfFreedom;
        double t = 1 - 2 / (9 * k) + z * Math.Sqrt(2 / (9 * k));
        return k * t * t * t;
    }

    public static double ChiSquare(long[] observed, double[] expectedProbabilities, long total)
    {
        double chi = 0;
        for (int i = 0; i < observed.Length; i++)
        {
            double expected = expectedProbabilities[i] * total;
            if (expected > 0)
            {
                chi += (observed[i] - expected) * (observed[i] - expected) / expected;
            }
        }

        return chi;
    }

    public static void AssertClose(float[] expected, float[] actual, float tolerance, string what = "")
    {
        Assert.HasCount(expected.Length, actual, what);
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNegativeInfinity(expected[i]))
            {
                Assert.IsTrue(float.IsNegativeInfinity(actual[i]), $"{what}[{i}]: expected -inf, got {actual[i]}");
                continue;
            }

            Assert.AreEqual(expected[i], actual[i], tolerance * Math.Max(1, Math.Abs(expected[i])), $"{what}[{i}]");
        }
    }

    public static float[] RandomLogits(Random random, int size, float scale = 3f) =>
        [.. Enumerable.Range(0, size).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale)];
}

internal static class ReferenceFilters
{
    /// <summary>Top-p by a stable sort: keep tokens while the mass before them is below p, at least minKeep.</summary>
    public static float[] TopP(float[] logits, float p, int minKeep = 1)
    {
        var probabilities = Reference.Softmax(logits);
        var order = logits.Select((v, i) => (v, i)).OrderByDescending(t => t.v).ThenBy(t => t.i).Select(t => t.i).ToArray();
        var keep = new HashSet<int>();
        double before = 0;
        for (int r = 0; r < order.Length; r++)
        {
            if (before < p || r < minKeep)
            {
                keep.Add(order[r]);
            }

            before += probabilities[order[r]];
        }

        return [.. logits.Select((v, i) => keep.Contains(i) ? v : float.NegativeInfinity)];
    }

    public static float[] MinP(float[] logits, float minP)
    {
        var probabilities = Reference.Softmax(logits);
        double top = probabilities.Max();
        return [.. logits.Select((v, i) => probabilities[i] >= minP * top ? v : float.NegativeInfinity)];
    }

    public static float[] Repetition(float[] logits, IEnumerable<int> seen, float penalty)
    {
        var result = (float[])logits.Clone();
        foreach (int t in seen.Distinct())
        {
            result[t] = result[t] < 0 ? result[t] * penalty : result[t] / penalty;
        }

        return result;
    }
}
