using LmHead.Extensions.Decoding;
using LmHead.Extensions.MachineLearning;
using Microsoft.ML;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;

namespace LmHead.Extensions.Tests.MachineLearning;

/// <summary>
/// The one estimator/transformer pair of the vector-to-vector stages: each catalog verb gives it the right tensor stage
/// with the right settings, and a fitted chain exposes what a decoding pipeline needs (stages, projection, seed, key).
/// </summary>
[TestClass]
public sealed class LogitsStageTransformerTests
{
    [TestMethod]
    public void EachCatalogVerbHoldsItsTensorStageWithItsSettings()
    {
        var ml = new MLContext(seed: 0);
        var bias = new Dictionary<int, float> { [3] = -1f };

        var temperature = ml.Transforms.ScaleTemperature("Out", "Logits", 0.7f);
        var topK = ml.Transforms.KeepTopK("Out", "Logits", 5);
        var topP = ml.Transforms.KeepTopP("Out", "Logits", 0.9f, minTokensToKeep: 2);
        var minP = ml.Transforms.KeepMinP("Out", "Logits", 0.1f);
        var logitBias = ml.Transforms.AddLogitBias("Out", "Logits", bias);
        var repetition = ml.Transforms.ApplyRepetitionPenalty("Out", "Logits", "History", 1.3f);
        var frequency = ml.Transforms.ApplyFrequencyPresencePenalty("Out", "Logits", "Generated", 0.5f, 0.25f);
        var softmax = ml.Transforms.NormalizeToProbabilities("Out", "Logits");

        Assert.AreEqual(0.7f, ((TemperatureScaler)temperature.Stage).Temperature);
        Assert.AreEqual(5, ((TopKFilter)topK.Stage).K);
        Assert.IsInstanceOfType<TopPFilter>(topP.Stage);
        Assert.IsInstanceOfType<MinPFilter>(minP.Stage);
        Assert.IsInstanceOfType<LogitBias>(logitBias.Stage);
        Assert.IsInstanceOfType<RepetitionPenalty>(repetition.Stage);
        Assert.AreEqual("History", repetition.HistoryColumnName);
        Assert.IsInstanceOfType<FrequencyPresencePenalty>(frequency.Stage);
        Assert.AreEqual("Generated", frequency.HistoryColumnName);
        Assert.IsNull(softmax.HistoryColumnName);
        using var logits = TorchSharp.torch.tensor(new[] { 1f, 2f, 3f });
        using var probabilities = softmax.Stage.Apply(logits);
        Assert.AreEqual(1f, probabilities.sum().item<float>(), 1e-6f, "the softmax stage returns probabilities");
    }

    [TestMethod]
    public void AFittedChainExposesWhatADecodingPipelineNeeds()
    {
        var ml = new MLContext(seed: 0);
        var (weight, bias) = Head();
        using var w = weight;
        using var b = bias;
        var data = ml.Data.LoadFromEnumerable(Rows(3).Select((r, i) => new KeyedHiddenRow { Hidden = r.Hidden, RequestId = i }));

        var chain = LmHeadSaveLoadTests.KeyedPipeline(ml, weight, bias).Fit(data).ToArray();

        var projection = (LogitsProjectionTransformer)chain[0];
        Assert.AreEqual(VocabularySize, projection.Projector.VocabularySize);
        Assert.AreEqual(HiddenSize, projection.Projector.HiddenSize);
        Assert.AreEqual(Temperature, ((TemperatureScaler)((LogitsStageTransformer)chain[1]).Stage).Temperature);
        Assert.AreEqual(K, ((TopKFilter)((LogitsStageTransformer)chain[2]).Stage).K);
        Assert.AreEqual("Probabilities", ((LogitsStageTransformer)chain[3]).OutputColumnName);
        var sampler = (NextTokenSamplingTransformer)chain[4];
        Assert.AreEqual(Seed, sampler.Seed);
        Assert.AreEqual("RequestId", sampler.StreamKeyColumn);
    }
}
