using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using LmHead.Extensions.Tokenization;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;

namespace LmHead.Extensions.SemanticKernel.Tests.Reliability;

/// <summary>
/// User text in the text service and in chat messages encodes special-token text (<c>&lt;|endoftext|&gt;</c>) as plain
/// text unless <c>allow_special_tokens</c> is set; the prompt token count shows which encoding was used.
/// </summary>
[TestClass]
public sealed class SpecialTokenTextTests
{
    private const string Prompt = "Hello <|endoftext|> world";

    /// <summary>The prompt's plain-text ids, piece by piece as GPT-2 pre-tokenizes it, each piece free of special-token text.</summary>
    private static readonly int[] PlainIds =
        [.. new[] { "Hello", " <|", "endoftext", "|>", " world" }.SelectMany(piece => Gpt2Tokenizer.Default.EncodeToIds(piece))];

    private static int SpecialCount(string text) => Gpt2Tokenizer.Default.EncodeToIds(text).Count;

    /// <summary>The prompt length the core generator reports for <paramref name="text"/> (its encoding is tested in the core package).</summary>
    private static async Task<int> GeneratorCount(string text, bool allowSpecialTokens) =>
        (await TinyModels.GeneratorA.GenerateAsync(
            text, new LmHead.Extensions.Generation.GenerationOptions { MaxNewTokens = 1, AllowSpecialTokensInPrompt = allowSpecialTokens })).PromptTokenCount;

    [TestMethod]
    public void TheTwoEncodingsDiffer()
    {
        // Premise of the tests below: the counts tell the encodings apart.
        CollectionAssert.DoesNotContain(PlainIds, Gpt2Tokenizer.EndOfTextTokenId);
        Assert.AreNotEqual(PlainIds.Length, SpecialCount(Prompt));
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public async Task TheTextServiceEncodesSpecialTokenTextAsPlainTextUnlessAllowed()
    {
        var service = new LmHeadTextGenerationService(TinyModels.GeneratorA, "tiny-a");

        var plain = await service.GetTextContentsAsync(Prompt, new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 1, Decoding = new() { Seed = 1 } }));
        var typed = await service.GetTextContentsAsync(Prompt, new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 1, AllowSpecialTokensInPrompt = true, Decoding = new() { Seed = 1 } }));
        var fromJson = await service.GetTextContentsAsync(Prompt, new PromptExecutionSettings
        {
            ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 1, ["allow_special_tokens"] = "true" },
        });

        Assert.AreEqual(PlainIds.Length, plain[0].Metadata![LmHeadMetadataKeys.PromptTokenCount]);
        Assert.AreEqual(SpecialCount(Prompt), typed[0].Metadata![LmHeadMetadataKeys.PromptTokenCount]);
        Assert.AreEqual(SpecialCount(Prompt), fromJson[0].Metadata![LmHeadMetadataKeys.PromptTokenCount]);
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public async Task TheChatClientEncodesSpecialTokenTextInMessagesAsPlainTextUnlessAllowed()
    {
        using var client = new LmHeadChatClient(TinyModels.GeneratorA, "tiny-a");
        ChatMessage[] messages = [new(ChatRole.System, "Be brief <|endoftext|>"), new(ChatRole.User, Prompt)];
        string rendered = ChatPromptFormat.Render(messages);

        var plain = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 1, Seed = 1 });
        var allowed = await client.GetResponseAsync(
            messages, new ChatOptions { MaxOutputTokens = 1, Seed = 1, AdditionalProperties = new() { ["allow_special_tokens"] = true } });

        Assert.AreEqual(await GeneratorCount(rendered, false), plain.Usage!.InputTokenCount);
        Assert.AreEqual(await GeneratorCount(rendered, true), allowed.Usage!.InputTokenCount);
        Assert.AreEqual(SpecialCount(rendered), allowed.Usage!.InputTokenCount);
        Assert.AreEqual(2, Gpt2Tokenizer.Default.EncodeToIds(rendered).Count(id => id == Gpt2Tokenizer.EndOfTextTokenId));
    }
}
