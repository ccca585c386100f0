using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.Services;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

[TestClass]
public sealed class LmHeadTextGenerationServiceTests
{
    private const string Prompt = "The river ran";

    private static LmHeadTextGenerationService CreateService() => new(TinyModels.GeneratorA, "tiny-a");

    [TestMethod]
    public void ReportsTheModelIdAttribute()
    {
        var service = CreateService();

        Assert.AreEqual("tiny-a", service.Attributes[AIServiceExtensions.ModelIdKey]);
        Assert.AreEqual("tiny-a", service.GetModelId());
    }

    [TestMethod]
    public async Task LogProbabilitiesAreReportedOnlyWhenRequested()
    {
        var service = CreateService();
        var requested = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 6, TopLogProbabilities = 3, Decoding = new() { Seed = 2 } });

        var with = (await service.GetTextContentsAsync(Prompt, requested)).Single();
        var without = (await service.GetTextContentsAsync(Prompt, new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 6, Decoding = new() { Seed = 2 } }))).Single();

        var tokens = (IReadOnlyList<TokenLogProbability>)with.Metadata![LmHeadMetadataKeys.LogProbabilities]!;
        Assert.AreEqual((int)with.Metadata[LmHeadMetadataKeys.CompletionTokenCount]!, tokens.Count);
        Assert.IsTrue(tokens.All(t => t.LogProbability <= 0 && t.TopAlternatives.Count == 3));
        Assert.IsFalse(without.Metadata!.ContainsKey(LmHeadMetadataKeys.LogProbabilities));
        Assert.AreEqual(with.Text, without.Text);
    }

    [TestMethod]
    public async Task StreamedPiecesCarryTheirOwnLogProbabilitiesAndTheLastCarriesUsage()
    {
        var service = CreateService();
        var settings = new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 6, IncludeLogProbabilities = true, Decoding = new() { Seed = 2 } });

        var whole = (await service.GetTextContentsAsync(Prompt, settings)).Single();
        var pieces = new List<StreamingTextContent>();
        await foreach (var piece in service.GetStreamingTextContentsAsync(Prompt, settings))
        {
            pieces.Add(piece);
        }

        var streamedTokens = pieces.SelectMany(p => (IReadOnlyList<TokenLogProbability>)p.Metadata![LmHeadMetadataKeys.LogProbabilities]!).ToList();
        var wholeTokens = (IReadOnlyList<TokenLogProbability>)whole.Metadata![LmHeadMetadataKeys.LogProbabilities]!;
        CollectionAssert.AreEqual(wholeTokens.Select(t => t.TokenId).ToList(), streamedTokens.Select(t => t.TokenId).ToList());
        var usage = (UsageDetails)pieces[^1].Metadata![LmHeadMetadataKeys.Usage]!;
        Assert.AreEqual((long)wholeTokens.Count, usage.OutputTokenCount);
        Assert.AreEqual(whole.Text, string.Concat(pieces.Select(p => p.Text)));
    }

    [TestMethod]
    public async Task MaxTokensEndsWithLengthFinishReason()
    {
        var service = CreateService();

        var result = (await service.GetTextContentsAsync(Prompt, new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 3, Decoding = new() { Seed = 1, TopK = 1 } }))).Single();

        Assert.AreEqual(FinishReason.Length, result.Metadata![LmHeadMetadataKeys.FinishReason]);
        Assert.AreEqual(3, result.Metadata[LmHeadMetadataKeys.CompletionTokenCount]);
        Assert.AreEqual("tiny-a", result.ModelId);
    }
}
