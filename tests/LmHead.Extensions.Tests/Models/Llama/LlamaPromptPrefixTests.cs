using System.Text.Json.Nodes;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Tokenization;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>
/// The BOS token Hugging Face's tokenizers put before a text (Llama 2/3, TinyLlama, Mistral): read from the folder as
/// <c>transformers</c> reads it and put before plain prompts, not doubled, and left out of chat-template prompts.
/// </summary>
[TestClass]
public sealed class LlamaPromptPrefixTests
{
    private const int BeginOfText = 256;

    [TestMethod]
    public async Task APlainPromptStartsWithTheTemplateProcessorsBosAsHuggingFaceEncodesIt()
    {
        var config = Llama3Config();
        string folder = Llama3Folder(config, seed: 23);
        using var pretrained = PretrainedModel.Load(folder);
        CollectionAssert.AreEqual(new[] { BeginOfText }, pretrained.PromptPrefixTokenIds.ToArray());

        var generator = new TextGenerator(pretrained);
        var greedy = new GenerationOptions { MaxNewTokens = 8, Decoding = DecodingOptions.GreedyDecoding };
        var result = await generator.GenerateAsync("Hello", greedy);

        int[] text = [.. "Hello"u8.ToArray().Select(b => (int)b)];
        var reference = new ReferenceLlama(folder, config);
        CollectionAssert.AreEqual(reference.Greedy([BeginOfText, .. text], 8), result.TokenIds.ToArray());
        Assert.AreEqual(text.Length + 1, result.PromptTokenCount);

        // Without the BOS the model continues differently; with it typed out, it is not doubled.
        CollectionAssert.AreNotEqual(reference.Greedy(text, 8), result.TokenIds.ToArray(), "the test needs a model whose continuation depends on the BOS");
        var typed = await generator.GenerateAsync("<|begin_of_text|>Hello", greedy with { AllowSpecialTokensInPrompt = true });
        CollectionAssert.AreEqual(result.TokenIds.ToArray(), typed.TokenIds.ToArray());
        Assert.AreEqual(text.Length + 1, typed.PromptTokenCount);

        // A chat-template prompt writes its own BOS (apply_chat_template encodes without special tokens).
        var chat = await generator.GenerateAsync("Hello", greedy with { WithoutPromptPrefix = true });
        CollectionAssert.AreEqual(reference.Greedy(text, 8), chat.TokenIds.ToArray());
    }

    [TestMethod]
    public void AddBosTokenOfTheTokenizerConfigDecidesOverThePostProcessor()
    {
        var config = Llama3Config();
        string folder = Llama3Folder(config, seed: 29);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"add_bos_token": false}""");
        using (var pretrained = PretrainedModel.Load(folder))
        {
            Assert.AreEqual(0, pretrained.PromptPrefixTokenIds.Count);
        }

        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"add_bos_token": "yes"}""");
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.Load(folder).Dispose());
        StringAssert.Contains(error.Message, "add_bos_token");
        StringAssert.Contains(error.Message, "\"yes\"");
    }

    [TestMethod]
    public void AByteLevelPostProcessorAddsNothing()
    {
        // Qwen2's tokenizer.json: post_processor ByteLevel, no BOS before a text.
        var config = TinyLlama.Qwen2() with { VocabularySize = ByteLevelVocabulary.Size + 1, EosTokenIds = [], BosTokenId = BeginOfText };
        string folder = TinyLlama.CreateFolder(config, seed: 31);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), TokenizerJsonFile.Write(
            TokenizerJsonFile.ByteVocabulary(), [], TokenizerJsonFile.ByteLevel(), [(BeginOfText, "<|begin_of_text|>", true)]));
        using var pretrained = PretrainedModel.Load(folder);
        Assert.AreEqual(0, pretrained.PromptPrefixTokenIds.Count);
    }

    [TestMethod]
    public void AnIdOutsideTheVocabularyIsAnErrorNamingIt()
    {
        var config = Llama3Config();
        string folder = Llama3Folder(config, seed: 37, prefixId: 999);
        var error = Assert.ThrowsExactly<ModelFormatException>(() => PretrainedModel.Load(folder).Dispose());
        StringAssert.Contains(error.Message, "999");
    }

    private static LlamaConfig Llama3Config() =>
        TinyLlama.Llama3Scaled() with { VocabularySize = BeginOfText + 1, EosTokenIds = [], BosTokenId = BeginOfText };

    // A Llama 3-style tokenizer.json: one token per byte, <|begin_of_text|> added, and the post-processor
    // Sequence[ByteLevel, TemplateProcessing] that puts it before every text.
    private static string Llama3Folder(LlamaConfig config, long seed, int prefixId = BeginOfText)
    {
        string folder = TinyLlama.CreateFolder(config, seed);
        var root = JsonNode.Parse(TokenizerJsonFile.Write(
            TokenizerJsonFile.ByteVocabulary(), [], TokenizerJsonFile.ByteLevel(), [(BeginOfText, "<|begin_of_text|>", true)]))!.AsObject();
        root["post_processor"] = JsonNode.Parse("""
            {"type": "Sequence", "processors": [
              {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
              {"type": "TemplateProcessing",
               "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
               "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
               "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [PREFIX], "tokens": ["<|begin_of_text|>"]}}}]}
            """.Replace("PREFIX", prefixId.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), root.ToJsonString());
        return folder;
    }
}
