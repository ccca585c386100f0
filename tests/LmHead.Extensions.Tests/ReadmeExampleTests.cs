using LmHead.Extensions.Decoding;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests;

/// <summary>The README's code example, verbatim in spirit, so the README stays true.</summary>
[TestClass]
public sealed class ReadmeExampleTests
{
    [TestMethod]
    public void TheReadmeExampleRunsAndPicksATokenFromTheTopK()
    {
        var pipeline = new DecodingPipelineBuilder()
            .UseTemperature(0.7f)
            .UseTopK(50)
            .UseSeed(42)
            .Build();

        using var weight = randn(Gpt2Tokenizer.VocabularySize, 768);
        using var projector = new LogitsProjector(weight);
        using var hidden = randn(768);

        using var logits = projector.Project(hidden);
        NextTokenResult next = pipeline.NextToken(logits);
        var top50 = logits.topk(50).indexes.data<long>().ToArray();
        CollectionAssert.Contains(top50, (long)next.TokenId);
        Assert.IsFalse(string.IsNullOrEmpty(Gpt2Tokenizer.Default.Decode([next.TokenId])));

        using var probabilities = LanguageModelHead.ComputeProbabilities(projector, hidden, temperature: 0.7f, k: 50);
        string text = LanguageModelHead.GetTopToken(probabilities, Gpt2Tokenizer.Default, topN: 1, seed: 42);
        var id = Gpt2Tokenizer.Default.EncodeToIds(text).Single();
        CollectionAssert.Contains(top50, (long)id);
    }
}
