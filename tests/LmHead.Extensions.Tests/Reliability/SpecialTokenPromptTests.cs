using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// The literal text of a special token in a prompt (GPT-2's <c>&lt;|endoftext|&gt;</c>) encodes as plain text by
/// default, so user text cannot inject a control token, and as the special token with
/// <see cref="GenerationOptions.AllowSpecialTokensInPrompt"/>.
/// </summary>
[TestClass]
public sealed class SpecialTokenPromptTests
{
    private const string Special = "<|endoftext|>";

    private static TextGenerator Generator() =>
        new(new Gpt2Model(CancellationAndDisposalTests.LongContextConfig()), Gpt2Tokenizer.Default);

    /// <summary>The ids of text encoded piece by piece, each piece free of special-token text.</summary>
    private static int[] Concat(params string[] pieces) => [.. pieces.SelectMany(p => Gpt2Tokenizer.Default.EncodeToIds(p))];

    [TestMethod]
    public void TheTokenizerItselfTurnsEndOfTextTextIntoTheSpecialToken()
    {
        // The premise: without the generator's handling, this text would become token 50256.
        CollectionAssert.Contains(Gpt2Tokenizer.Default.EncodeToIds("Hello <|endoftext|> world").ToArray(), Gpt2Tokenizer.EndOfTextTokenId);
    }

    [TestMethod]
    [DataRow("Hello <|endoftext|> world", new[] { "Hello", " <|", "endoftext", "|>", " world" })]
    [DataRow("<|endoftext|>", new[] { "<|", "endoftext", "|>" })]
    [DataRow("x<|endoftext|>>y", new[] { "x", "<|", "endoftext", "|>>", "y" })]
    [DataRow("a\n<|endoftext|><|endoftext|>", new[] { "a", "\n", "<|", "endoftext", "|><|", "endoftext", "|>" })]
    public void SpecialTokenTextEncodesAsPlainTextByDefault(string prompt, string[] plainPieces)
    {
        var generator = Generator();

        int[] ids = generator.EncodePrompt(prompt, allowSpecialTokens: false);

        CollectionAssert.DoesNotContain(ids, Gpt2Tokenizer.EndOfTextTokenId);
        CollectionAssert.AreEqual(Concat(plainPieces), ids);
        Assert.AreEqual(prompt, Gpt2Tokenizer.Default.Decode(ids), "plain ids decode back to the prompt");
    }

    [TestMethod]
    public void SpecialTokenTextEncodesAsTheSpecialTokenWhenAllowed()
    {
        var generator = Generator();
        const string prompt = "Hello " + Special + " world";

        int[] ids = generator.EncodePrompt(prompt, allowSpecialTokens: true);

        CollectionAssert.AreEqual(Gpt2Tokenizer.Default.EncodeToIds(prompt).ToArray(), ids);
        Assert.AreEqual(1, ids.Count(id => id == Gpt2Tokenizer.EndOfTextTokenId));
    }

    [TestMethod]
    public void PlainTextEncodingAgreesWithTheTokenizerOnOrdinaryText()
    {
        // The plain path pre-tokenizes with its own copy of GPT-2's pattern; on text without special tokens it must give
        // exactly the tokenizer's ids (contractions, numbers, runs of spaces, new lines, punctuation, non-Latin text).
        string[] texts =
        [
            "Hello, world! It's 2024 -- isn't it?  Two  spaces,   three.\n\nNew paragraph\r\n\tTabbed.",
            "I'll we've they're she'd he's I'm  '  ''quoted''  <| |> <|endoftext  endoftext|>",
            "Ünïcödé façade — 日本語のテキスト 1234567 3.14159 e=mc² 🙂🙃   \n  trailing   ",
            "   leading spaces and a final new line\n",
        ];

        foreach (string text in texts)
        {
            CollectionAssert.AreEqual(Gpt2Tokenizer.Default.EncodeToIds(text).ToArray(), PromptEncoding.EncodePlain(Gpt2Tokenizer.Default, text), text);
        }
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public async Task GenerationReportsThePlainTextPromptLengthByDefault()
    {
        var generator = Generator();
        const string prompt = "Hello " + Special + " world";
        var options = new GenerationOptions { MaxNewTokens = 1, Decoding = new() { Seed = 1 } };

        var plain = await generator.GenerateAsync(prompt, options);
        var special = await generator.GenerateAsync(prompt, options with { AllowSpecialTokensInPrompt = true });

        Assert.AreEqual(Concat("Hello", " <|", "endoftext", "|>", " world").Length, plain.PromptTokenCount);
        Assert.AreEqual(Gpt2Tokenizer.Default.EncodeToIds(prompt).Count, special.PromptTokenCount);
    }
}
