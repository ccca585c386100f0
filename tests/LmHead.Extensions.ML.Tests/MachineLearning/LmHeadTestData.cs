using LmHead.Extensions.Decoding;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.MachineLearning;

public sealed class HiddenRow
{
    [VectorType(LmHeadTestData.HiddenSize)]
    public float[] Hidden { get; set; } = [];
}

public sealed class HeadPrediction
{
    public float[] Logits { get; set; } = [];

    public float[] Probabilities { get; set; } = [];

    public uint NextToken { get; set; }

    public float NextTokenProbability { get; set; }
}

/// <summary>The expected values of one row, computed directly with the tensor stages.</summary>
internal sealed record ExpectedRow(float[] Logits, float[] Scaled, float[] TopK, float[] Probabilities, uint Token, float TokenProbability);

/// <summary>Small random heads and hidden states, and the reference computation.</summary>
internal static class LmHeadTestData
{
    public const int HiddenSize = 8;
    public const int VocabularySize = 32;
    public const float Temperature = 0.7f;
    public const int K = 5;
    public const ulong Seed = 42;

    public static float[] RandomVector(Random random, int size) =>
        Enumerable.Range(0, size).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();

    public static HiddenRow[] Rows(int count, int seed = 1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => new HiddenRow { Hidden = RandomVector(random, HiddenSize) }).ToArray();
    }

    public static (Tensor Weight, Tensor Bias) Head(int seed = 7)
    {
        var random = new Random(seed);
        var weight = tensor(RandomVector(random, VocabularySize * HiddenSize), [VocabularySize, HiddenSize]);
        var bias = tensor(RandomVector(random, VocabularySize));
        return (weight, bias);
    }

    public static IEstimator<ITransformer> FullPipeline(MLContext ml, Tensor weight, Tensor bias) =>
        ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias)
            .Append(ml.Transforms.ScaleTemperature("Scaled", "Logits", Temperature))
            .Append(ml.Transforms.KeepTopK("TopK", "Scaled", K))
            .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "TopK"))
            .Append(ml.Transforms.SampleNextToken("NextToken", "Probabilities", Seed));

    public static ExpectedRow Expected(float[] hidden, Tensor weight, Tensor bias, ulong rowKey)
    {
        using var scope = NewDisposeScope();
        using var projector = new LogitsProjector(weight, bias);
        var logits = projector.Project(tensor(hidden));
        var scaled = new TemperatureScaler(Temperature).Apply(logits);
        var topK = new TopKFilter(K).Apply(scaled);
        var probabilities = new SoftmaxNormalizer().Normalize(topK);
        using var samples = new MultinomialSampler(seed: 0).Sample(probabilities, SamplingRandom.ForStream(Seed, rowKey));
        return new ExpectedRow(
            logits.data<float>().ToArray(), scaled.data<float>().ToArray(), topK.data<float>().ToArray(), probabilities.data<float>().ToArray(),
            (uint)samples.Ids[0].item<long>(), samples.Probabilities[0].item<float>());
    }

    /// <summary>
    /// Compares vectors to float precision: the same matrix product may round differently for differently aligned
    /// buffers, so logits (and what follows from them) are not always bit-identical. -infinity must match exactly.
    /// </summary>
    public static void AssertClose(float[] expected, float[] actual, string message)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{message}: length");
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNegativeInfinity(expected[i]))
            {
                Assert.IsTrue(float.IsNegativeInfinity(actual[i]), $"{message}: entry {i} should be -infinity but is {actual[i]}");
            }
            else
            {
                Assert.AreEqual(expected[i], actual[i], 1e-5f * Math.Max(1f, Math.Abs(expected[i])), $"{message}: entry {i}");
            }
        }
    }

    /// <summary>A plain C# dot product, independent of TorchSharp.</summary>
    public static float[] PlainLogits(float[] hidden, float[] weight, float[] bias)
    {
        var logits = new float[VocabularySize];
        for (int v = 0; v < VocabularySize; v++)
        {
            double sum = bias[v];
            for (int j = 0; j < HiddenSize; j++)
            {
                sum += (double)hidden[j] * weight[(v * HiddenSize) + j];
            }

            logits[v] = (float)sum;
        }

        return logits;
    }
}
