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

        // Seeded, so that a run is repeatable (unseeded weights made the token re-encoding below fail now and then).
        var generator = new Generator(42);
        using var weight = randn(Gpt2Tokenizer.VocabularySize, 768, generator: generator);
        using var projector = new LogitsProjector(weight);
        using var hidden = randn(768, generator: generator);

        using var logits = projector.Project(hidden);
        NextTokenResult next = pipeline.NextToken(logits);
        var top50 = logits.topk(50).indexes.data<long>().ToArray();
        CollectionAssert.Contains(top50, (long)next.TokenId);
        Assert.IsFalse(string.IsNullOrEmpty(Gpt2Tokenizer.Default.Decode([next.TokenId])));

        using var probabilities = LanguageModelHead.ComputeProbabilities(projector, hidden, temperature: 0.7f, k: 50);
        string text = LanguageModelHead.GetTopToken(probabilities, Gpt2Tokenizer.Default, topN: 1, seed: 42);

        // Compared as text: a token's text does not always encode back to that one token (GPT-2 has tokens whose decoded
        // text re-encodes to another id), which made an id comparison fail for some weights.
        var top50Texts = top50.Select(i => Gpt2Tokenizer.Default.Decode([(int)i])).ToArray();
        CollectionAssert.Contains(top50Texts, text);
    }
}
