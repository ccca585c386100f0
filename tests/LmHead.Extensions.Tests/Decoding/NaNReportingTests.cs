using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

/// <summary>
/// NaN in, NaN reported: no stage, path or combination turns a NaN logit into something else (all -infinity, which the
/// next stage would report as "a filter removed the whole vocabulary", or a valid-looking token).
/// </summary>
[TestClass]
public sealed class NaNReportingTests
{
    private const string NaNMessage = "The logit of token 1 is NaN.";

    public static IEnumerable<object[]> Pipelines =>
    [
        ["greedy", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseGreedy())],
        ["greedy, top-k 2", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseGreedy().UseTopK(2))],
        ["top-k 1", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTopK(1))],
        ["T 1e-30", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(1e-30f))],
        ["T 0.7, top-k 2", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTemperature(0.7f).UseTopK(2))],
        ["min-p", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseMinP(0.5f))],
        ["top-p", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseTopP(0.5f))],
        ["ban of the NaN token", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseLogitBias(new Dictionary<int, float> { [1] = float.NegativeInfinity }))],
        ["ban, greedy", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseLogitBias(new Dictionary<int, float> { [1] = float.NegativeInfinity }).UseGreedy())],
        ["penalties, greedy", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseRepetitionPenalty(1.3f).UseFrequencyPresencePenalty(0.5f, 0.5f).UseGreedy())],
        ["penalties, T 0.7, top-p", (Func<DecodingPipelineBuilder, DecodingPipelineBuilder>)(b => b.UseRepetitionPenalty(1.3f).UseTemperature(0.7f).UseTopP(0.9f))],
    ];

    [TestMethod]
    [DynamicData(nameof(Pipelines))]
    public void EveryPipelineReportsANaNLogitAsNaNOnEveryPath(string name, Func<DecodingPipelineBuilder, DecodingPipelineBuilder> configure)
    {
        var history = new TokenHistory([1, 2], [1]);
        foreach (bool fast in new[] { true, false })
        {
            var pipeline = configure(new DecodingPipelineBuilder()).Build();
            pipeline.UseCpuFastPath = fast;
            foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64, ScalarType.Float16 })
            {
                using var row = tensor(new[] { 0.5f, float.NaN, 2f, -1f }).to_type(dtype);
                var single = Assert.ThrowsExactly<ArgumentException>(() => pipeline.NextToken(row, new SamplingRandom(1), history), $"{name}, {dtype}, fast {fast}");
                StringAssert.Contains(single.Message, "NaN", $"{name}, {dtype}: {single.Message}");
                StringAssert.Contains(single.Message, "token 1", $"{name}, {dtype}: {single.Message}");
                Assert.AreEqual("logits", single.ParamName);

                using var batch = stack([tensor(new[] { 0.5f, 1f, 2f, -1f }), tensor(new[] { 0.5f, float.NaN, 2f, -1f })]).to_type(dtype);
                var batched = Assert.ThrowsExactly<ArgumentException>(() => pipeline.NextTokens(batch, new SamplingRandom(1), history), $"{name}, {dtype}, fast {fast}");
                StringAssert.Contains(batched.Message, "The logit of token 1 in row 1 is NaN", $"{name}, {dtype}: {batched.Message}");
            }
        }
    }

    [TestMethod]
    public void GreedyTemperatureRejectsNaNAndPositiveInfinityInsteadOfRemovingEveryToken()
    {
        var greedy = new TemperatureScaler(0f);
        using var nan = tensor(new[] { 0.5f, float.NaN, 2f });
        var ex = Assert.ThrowsExactly<ArgumentException>(() => greedy.Apply(nan).Dispose());
        StringAssert.StartsWith(ex.Message, NaNMessage);
        Assert.AreEqual("logits", ex.ParamName);

        using var posInf = tensor(new[] { 0.5f, float.PositiveInfinity, 2f });
        ex = Assert.ThrowsExactly<ArgumentException>(() => greedy.Apply(posInf).Dispose());
        StringAssert.StartsWith(ex.Message, "The logit of token 1 is +infinity.");

        using var removed = tensor(new[] { float.NegativeInfinity, 3f, float.NegativeInfinity });
        using var kept = greedy.Apply(removed);
        CollectionAssert.AreEqual(new[] { float.NegativeInfinity, 3f, float.NegativeInfinity }, kept.ToFloats(), "-infinity marks a removed token and is allowed");
    }

    [TestMethod]
    public void ElementWiseStagesKeepNaNVisible()
    {
        using var nan = tensor(new[] { 0.5f, float.NaN, 2f, -1f });
        ILogitsStage[] stages =
        [
            new TemperatureScaler(0.7f), new TemperatureScaler(1e-30f), new TemperatureScaler(1e30f),
            new LogitBias(new Dictionary<int, float> { [1] = float.NegativeInfinity, [2] = 1f }),
        ];
        foreach (var stage in stages)
        {
            using var output = stage.Apply(nan);
            Assert.IsTrue(float.IsNaN(output.ToFloats()[1]), $"{stage.GetType().Name}: NaN must stay NaN");
        }

        var history = new TokenHistory([1], [1, 1]);
        foreach (var stage in new ITokenHistoryStage[] { new RepetitionPenalty(1.5f), new FrequencyPresencePenalty(0.5f, 0.5f) })
        {
            using var output = stage.Apply(nan, history);
            Assert.IsTrue(float.IsNaN(output.ToFloats()[1]), $"{stage.GetType().Name}: NaN must stay NaN");
        }
    }

    [TestMethod]
    public void RankingStagesRejectNaNNamingTheToken()
    {
        using var nan = tensor(new[] { 0.5f, float.NaN, 2f, -1f });
        ILogitsStage[] stages = [new TopKFilter(1), new TopKFilter(10), new TopPFilter(0.5f), new MinPFilter(0.5f)];
        foreach (var stage in stages)
        {
            var ex = Assert.ThrowsExactly<ArgumentException>(() => stage.Apply(nan).Dispose(), stage.GetType().Name);
            StringAssert.StartsWith(ex.Message, NaNMessage, stage.GetType().Name);
        }

        var softmax = Assert.ThrowsExactly<ArgumentException>(() => new SoftmaxNormalizer().Normalize(nan).Dispose());
        StringAssert.StartsWith(softmax.Message, NaNMessage);
    }
}
