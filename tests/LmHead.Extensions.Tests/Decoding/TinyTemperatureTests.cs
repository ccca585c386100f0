using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

/// <summary>
/// Any temperature T &gt; 0 gives a valid distribution on every path (the CPU fast path, the tensor path in float32,
/// float16, bfloat16 and float64), equal to softmax((x − max) / T) computed in double precision here, and T → 0
/// tends to the maxima of the row (ties sharing evenly). Before the fix, the float32 fast path returned the last token
/// id with probability NaN for T = 1e-20, and logits near float.MaxValue with T &lt; 1 were rejected as +infinity.
/// </summary>
[TestClass]
public sealed class TinyTemperatureTests
{
    public static IEnumerable<object[]> Temperatures =>
        new[] { 1e-45f, 3e-44f, 1e-40f, 1e-38f, 1e-30f, 1e-20f, 1e-10f, 1e-5f, 1e-3f, 0.01f, 0.3f, 0.7f, 1.5f, 10f, 1e3f, 1e10f, 1e20f, 1e30f }
            .Select(t => new object[] { t });

    [TestMethod]
    [DynamicData(nameof(Temperatures))]
    public void EveryPathMatchesTheDoublePrecisionDistribution(float temperature)
    {
        using var row = randn(50257, generator: new TorchSharp.torch.Generator(5));
        using var huge = HugeRow();
        using var near = NearTies();
        foreach (var (logits, rowName) in new[] { (row, "randn(50257)"), (huge, "near float.MaxValue"), (near, "adjacent floats") })
        {
            foreach (ScalarType dtype in new[] { ScalarType.Float32, ScalarType.Float64, ScalarType.Float16, ScalarType.BFloat16 })
            {
                if (dtype is ScalarType.Float16 or ScalarType.BFloat16 && ReferenceEquals(logits, huge))
                {
                    continue; // float16 cannot hold those logits; bfloat16 rounds float.MaxValue to +infinity.
                }

                using var typed = logits.to_type(dtype);
                float[] exact = typed.ToFloats();
                foreach (int? k in new int?[] { null, 50 })
                {
                    foreach (bool fast in dtype == ScalarType.Float32 ? new[] { true, false } : [false])
                    {
                        string what = $"{rowName}, {dtype}, T = {temperature}, top-k {(k is { } shown ? $"{shown}" : "off")}, {(fast ? "fast" : "tensor")} path";
                        var builder = new DecodingPipelineBuilder().UseTemperature(temperature).UseCandidateCount(5);
                        var pipeline = (k is { } kk ? builder.UseTopK(kk) : builder).Build();
                        pipeline.UseCpuFastPath = fast;
                        double[] expected = ExactDistribution(exact, temperature, k);
                        for (ulong seed = 1; seed <= 3; seed++)
                        {
                            var result = pipeline.NextToken(typed, new SamplingRandom(seed));
                            AssertMatches(expected, result, dtype, what);
                        }
                    }
                }
            }
        }
    }

    [TestMethod]
    public void TheIssueExamplePicksTheArgmaxWithProbabilityOneOnBothPaths()
    {
        manual_seed(5);
        using var logits = randn(50257);
        int argmax = (int)logits.argmax().item<long>();
        Assert.AreNotEqual(50256, argmax, "the example's argmax is not the last id");
        foreach (bool fast in new[] { true, false })
        {
            foreach (var builder in new[] { new DecodingPipelineBuilder().UseTemperature(1e-20f), new DecodingPipelineBuilder().UseTemperature(1e-20f).UseTopK(50) })
            {
                var pipeline = builder.Build();
                pipeline.UseCpuFastPath = fast;
                var result = pipeline.NextToken(logits, new SamplingRandom(1));
                Assert.AreEqual(argmax, result.TokenId, $"fast {fast}");
                Assert.AreEqual(1f, result.Probability, $"fast {fast}");
                Assert.AreEqual(0f, result.Candidates[0].ProcessedLogit, "the maximum of a shifted row is exactly 0");
                Assert.AreEqual(1f, result.Candidates[0].Probability);
            }
        }
    }

    [TestMethod]
    [DataRow(1e-30f, false)]
    [DataRow(1e-30f, true)]
    [DataRow(1e-45f, false)]
    [DataRow(1e-45f, true)]
    public void TiedMaximaShareTheDrawsEvenlyAtTinyTemperatures(float temperature, bool fast)
    {
        // Two exact maxima (ids 3 and 700) among 1,000 logits; float.MaxValue-sized so x / T would overflow.
        var values = new float[1000];
        var random = new Random(2);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(random.NextDouble() * 3e38);
        }

        values[3] = values[700] = 3.2e38f;
        using var logits = tensor(values);
        foreach (int? k in new int?[] { null, 10 })
        {
            var builder = new DecodingPipelineBuilder().UseTemperature(temperature).UseSeed(11);
            var pipeline = (k is { } kk ? builder.UseTopK(kk) : builder).Build();
            pipeline.UseCpuFastPath = fast;
            const int draws = 2000;
            int first = 0;
            for (int d = 0; d < draws; d++)
            {
                var result = pipeline.NextToken(logits);
                Assert.IsTrue(result.TokenId is 3 or 700, $"drew {result.TokenId}");
                Assert.AreEqual(0.5f, result.Probability);
                first += result.TokenId == 3 ? 1 : 0;
            }

            // Binomial(2000, 1/2): standard deviation 22.4; 5 of them is a 1-in-1.7-million miss.
            Assert.AreEqual(draws / 2.0, first, 5 * Math.Sqrt(draws / 4.0), $"top-k {(k is { } shown ? $"{shown}" : "off")}: {first} of {draws} on id 3");
        }
    }

    [TestMethod]
    [DataRow(0.5f)]
    [DataRow(1e-3f)]
    public void LogitsNearFloatMaxValueAreNotRejectedAsInfinity(float temperature)
    {
        float[] values = [float.MaxValue, float.MaxValue * 0.999f, -float.MaxValue, float.NegativeInfinity, 1f];
        using var logits = tensor(values);
        using var scaled = new TemperatureScaler(temperature).Apply(logits);
        float[] output = scaled.ToFloats();
        Assert.AreEqual(0f, output[0], "the maximum of a shifted row is 0");
        Assert.IsTrue(output.All(v => !float.IsNaN(v) && !float.IsPositiveInfinity(v)), string.Join(", ", output));
        for (int i = 1; i < values.Length; i++)
        {
            // (x - max) / T in double is below -1e35 (or -infinity): weight 0 either way.
            Assert.IsLessThan(-1e30f, output[i], $"index {i}");
        }

        foreach (bool fast in new[] { true, false })
        {
            var pipeline = new DecodingPipelineBuilder().UseTemperature(temperature).Build();
            pipeline.UseCpuFastPath = fast;
            var result = pipeline.NextToken(logits, new SamplingRandom(3));
            Assert.AreEqual(0, result.TokenId, $"fast {fast}");
            Assert.AreEqual(1f, result.Probability, $"fast {fast}");
        }
    }

    [TestMethod]
    public void UsualTemperaturesStillDivideExactly()
    {
        // The shift applies only past |max / T| > 4096 (float32): a usual row keeps x / T bit for bit.
        var values = Reference.RandomLogits(new Random(4), 300, scale: 20f);
        using var logits = tensor(values);
        foreach (float temperature in new[] { 0.7f, 0.1f, 0.005f, 2f })
        {
            using var scaled = new TemperatureScaler(temperature).Apply(logits);
            CollectionAssert.AreEqual(values.Select(v => v / temperature).ToArray(), scaled.ToFloats(), $"T = {temperature}");
        }
    }

    [TestMethod]
    public void AShiftedBatchShiftsOnlyTheRowsThatNeedIt()
    {
        float[][] rows = [[1f, 2f, 3f], [1e30f, 3e38f, -5f]];
        using var logits = rows.ToTensor();
        using var scaled = new TemperatureScaler(0.5f).Apply(logits);
        float[] output = scaled.ToFloats();
        CollectionAssert.AreEqual(new[] { 2f, 4f, 6f }, output[..3], "|3 / 0.5| is small: x / T");
        Assert.AreEqual((1e30f - 3e38f) / 0.5f, output[3]);
        Assert.AreEqual(0f, output[4]);
        Assert.AreEqual((-5f - 3e38f) / 0.5f, output[5]);
    }

    private static Tensor HugeRow()
    {
        var random = new Random(8);
        var values = new float[4000];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2 - 1) * 3.3e38);
        }

        values[17] = float.MaxValue;
        values[2000] = BitDecrement(float.MaxValue);
        return tensor(values);
    }

    /// <summary>Logits whose best values are adjacent floats: x / T in float32 would round some of them together.</summary>
    private static Tensor NearTies()
    {
        var random = new Random(9);
        var values = new float[3000];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(random.NextDouble() * 4);
        }

        values[100] = 5f;
        values[101] = MathF.BitDecrement(5f);
        values[2500] = MathF.BitDecrement(MathF.BitDecrement(5f));
        values[2999] = 5f;
        return tensor(values);
    }

    private static float BitDecrement(float x) => MathF.BitDecrement(x);

    /// <summary>softmax((x − max) / T) over the top k (by value, lower id on ties) in double precision.</summary>
    private static double[] ExactDistribution(float[] logits, float temperature, int? k)
    {
        bool[] keep = new bool[logits.Length];
        foreach (var (_, i) in logits.Select((v, i) => (v, i)).OrderByDescending(t => t.v).ThenBy(t => t.i).Take(k ?? logits.Length))
        {
            keep[i] = true;
        }

        double max = logits.Where((_, i) => keep[i]).Max();
        var weights = logits.Select((v, i) => keep[i] ? Math.Exp(((double)v - max) / temperature) : 0).ToArray();
        double total = weights.Sum();
        return [.. weights.Select(w => w / total)];
    }

    private static void AssertMatches(double[] expected, NextTokenResult result, ScalarType dtype, string what)
    {
        // Float32 keeps exponents to about 2^-12 (the shift limit); float16 and bfloat16 softmax outputs round to 11 and 8 bits.
        double relative = dtype switch { ScalarType.Float16 => 1e-2, ScalarType.BFloat16 => 5e-2, ScalarType.Float64 => 1e-6, _ => 1e-3 };
        Assert.IsTrue(float.IsFinite(result.Probability) && result.Probability > 0 && result.Probability <= 1, $"{what}: probability {result.Probability}");
        Assert.IsGreaterThan(1e-10, expected[result.TokenId], $"{what}: chose token {result.TokenId} of exact probability {expected[result.TokenId]}");
        Assert.AreEqual(expected[result.TokenId], result.Probability, relative * expected[result.TokenId] + 1e-6, $"{what}: token {result.TokenId}");
        foreach (var candidate in result.Candidates)
        {
            Assert.IsFalse(float.IsNaN(candidate.ProcessedLogit) || float.IsPositiveInfinity(candidate.ProcessedLogit), $"{what}: candidate {candidate.TokenId} processed {candidate.ProcessedLogit}");
            Assert.AreEqual(expected[candidate.TokenId], candidate.Probability, relative * expected[candidate.TokenId] + 1e-6, $"{what}: candidate {candidate.TokenId}");
        }
    }
}
