using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

/// <summary>Both penalties accept and reject exactly the same histories, with the same message.</summary>
[TestClass]
public sealed class TokenHistoryValidationTests
{
    public static IEnumerable<object[]> BadHistories =>
    [
        ["id = V in the prompt", new TokenHistory([1, 4], []), "history holds token id 4 (prompt token 1), outside the vocabulary of 4 tokens: ids must be in [0, 4)."],
        ["id > V generated", new TokenHistory([1], [2, 9]), "history holds token id 9 (generated token 1), outside the vocabulary of 4 tokens: ids must be in [0, 4)."],
        ["negative prompt id", new TokenHistory([-1], [2]), "history holds token id -1 (prompt token 0), outside the vocabulary of 4 tokens: ids must be in [0, 4)."],
        ["negative generated id", new TokenHistory([], [int.MinValue]), $"history holds token id {int.MinValue} (generated token 0), outside the vocabulary of 4 tokens: ids must be in [0, 4)."],
        // Outside the window: neither stage would read it, but the history does not belong to these logits.
        ["bad id outside the window", new TokenHistory([7, 0, 1, 2], [3, 0, 1, 2]), "history holds token id 7 (prompt token 0), outside the vocabulary of 4 tokens: ids must be in [0, 4)."],
    ];

    [TestMethod]
    [DynamicData(nameof(BadHistories))]
    public void BothPenaltiesRejectTheSameHistoryWithTheSameMessage(string name, TokenHistory history, string message)
    {
        using var logits = tensor(new[] { 0.5f, 1f, -1f, 2f });
        ITokenHistoryStage[] stages =
        [
            new RepetitionPenalty(1.3f), new RepetitionPenalty(1.3f, window: 2), new RepetitionPenalty(1f),
            new FrequencyPresencePenalty(0.5f, 0.5f), new FrequencyPresencePenalty(0.5f, 0f, window: 2), new FrequencyPresencePenalty(0f, 0f),
        ];
        foreach (var stage in stages)
        {
            var ex = Assert.ThrowsExactly<ArgumentException>(() => stage.Apply(logits, history).Dispose(), $"{name}: {stage.GetType().Name}");
            Assert.AreEqual("history", ex.ParamName);
            StringAssert.StartsWith(ex.Message, message, $"{name}: {stage.GetType().Name}");
        }

        foreach (bool fast in new[] { true, false })
        {
            var pipeline = new DecodingPipelineBuilder().UseRepetitionPenalty(1.2f).UseFrequencyPresencePenalty(0.1f, 0.1f).Build();
            pipeline.UseCpuFastPath = fast;
            var ex = Assert.ThrowsExactly<ArgumentException>(() => pipeline.NextToken(logits, new SamplingRandom(1), history), name);
            StringAssert.StartsWith(ex.Message, message, name);
        }
    }

    [TestMethod]
    public void AValidHistoryIsAcceptedByBoth()
    {
        using var logits = tensor(new[] { 0.5f, 1f, -1f, 2f });
        var history = new TokenHistory([0, 3], [3, 3, 1]);
        using var repetition = new RepetitionPenalty(2f).Apply(logits, history);
        CollectionAssert.AreEqual(ReferenceFilters.Repetition([0.5f, 1f, -1f, 2f], [0, 3, 3, 3, 1], 2f), repetition.ToFloats());
        using var frequency = new FrequencyPresencePenalty(0.5f, 0.25f).Apply(logits, history);
        CollectionAssert.AreEqual(new[] { 0.5f, 1f - (1 * 0.5f + 0.25f), -1f, 2f - (2 * 0.5f + 0.25f) }, frequency.ToFloats());
    }
}
