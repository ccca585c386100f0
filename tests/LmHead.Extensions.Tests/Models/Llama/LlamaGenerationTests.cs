using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>Generation through <see cref="TextGenerator"/> on random Llama-family folders, against the float64 reference's greedy continuation.</summary>
[TestClass]
public sealed class LlamaGenerationTests
{
    [TestMethod]
    public async Task GreedyContinuationMatchesTheReference()
    {
        var config = TinyLlama.Qwen2() with { VocabularySize = ByteLevelVocabulary.Size, EosTokenIds = [] };
        string folder = TinyLlama.CreateFolder(config, seed: 13);
        ByteLevelVocabulary.Write(folder);
        using var pretrained = PretrainedModel.Load(folder);
        Assert.AreEqual("qwen2", pretrained.ModelType);
        var generator = new TextGenerator(pretrained);
        var result = await generator.GenerateAsync("Hello", new GenerationOptions { MaxNewTokens = 12, Decoding = DecodingOptions.GreedyDecoding });

        int[] prompt = [.. "Hello"u8.ToArray().Select(b => (int)b)];
        int[] expected = new ReferenceLlama(folder, config).Greedy(prompt, 12);
        CollectionAssert.AreEqual(expected, result.TokenIds.ToArray());
        Assert.AreEqual(FinishReason.Length, result.FinishReason);
    }

    [TestMethod]
    public async Task AnyIdOfTheEosListEndsGeneration()
    {
        var config = TinyLlama.Llama3Scaled() with { VocabularySize = ByteLevelVocabulary.Size, EosTokenIds = [] };
        string folder = TinyLlama.CreateFolder(config, seed: 17);
        ByteLevelVocabulary.Write(folder);
        int[] prompt = [.. "abc"u8.ToArray().Select(b => (int)b)];
        int[] greedy = new ReferenceLlama(folder, config).Greedy(prompt, 6);
        int stopAt = Enumerable.Range(2, greedy.Length - 2).FirstOrDefault(i => !greedy.AsSpan(0, i).Contains(greedy[i]), -1);
        Assert.IsTrue(stopAt >= 2, "the greedy run needs a token that first appears at step 2 or later");

        // Rewrite config.json with an EOS list whose second id is that token (the first never occurs).
        int never = Enumerable.Range(0, ByteLevelVocabulary.Size).First(id => !greedy.Contains(id));
        File.WriteAllText(Path.Combine(folder, "config.json"), (config with { EosTokenIds = [never, greedy[stopAt]], TorchDType = "float32" }).ToJson());
        using var pretrained = PretrainedModel.Load(folder);
        var result = await new TextGenerator(pretrained).GenerateAsync("abc", new GenerationOptions { MaxNewTokens = 6, Decoding = DecodingOptions.GreedyDecoding });
        Assert.AreEqual(FinishReason.EndOfText, result.FinishReason);
        CollectionAssert.AreEqual(greedy[..(stopAt + 1)], result.TokenIds.ToArray());
    }
}
