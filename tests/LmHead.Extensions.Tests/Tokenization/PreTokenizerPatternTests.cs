using LmHead.Extensions.Tokenization;
using static LmHead.Extensions.Tests.Tokenization.TokenizerJsonFile;

namespace LmHead.Extensions.Tests.Tokenization;

/// <summary>The pre-tokenizer chains of the families' tokenizer.json files, checked on strings split by hand.</summary>
[TestClass]
public sealed class PreTokenizerPatternTests
{
    // As published in Llama 3.x's tokenizer.json (pre_tokenizer.pretokenizers[0].pattern.Regex).
    private const string Llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // As published in Qwen2/2.5's tokenizer.json: single digits.
    private const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Sample = "Hello world's 12345!!\n\n  x";

    private static string[] Pieces(System.Text.Json.Nodes.JsonNode preTokenizer, string text)
    {
        var tokenizer = TokenizerJson.Parse(Write(ByteVocabulary(), [], preTokenizer, [(300, "<|eot_id|>", true)]));
        return [.. tokenizer.PreTokenizer!.PreTokenize(text).Select(p => text.Substring(p.Offset, p.Length))];
    }

    [TestMethod]
    public void Llama3SplitsDigitsInThreesAndKeepsNewlinesWithPunctuation()
    {
        string[] expected = ["Hello", " world", "'s", " ", "123", "45", "!!\n\n", " ", " x"];

        CollectionAssert.AreEqual(expected, Pieces(Sequence(Split(Llama3), ByteLevel(useRegex: false)), Sample));
    }

    [TestMethod]
    public void Llama3ContractionsIgnoreCaseAndAddedTokensAreCutOutFirst()
    {
        string[] expected = ["I", "'M", " fine", "<|eot_id|>", "\n\n", "OK"];

        CollectionAssert.AreEqual(expected, Pieces(Sequence(Split(Llama3), ByteLevel(useRegex: false)), "I'M fine<|eot_id|>\n\nOK"));
    }

    [TestMethod]
    public void Qwen2SplitsEveryDigit()
    {
        string[] expected = ["Hello", " world", "'s", " ", "1", "2", "3", "4", "5", "!!\n\n", " ", " x"];

        CollectionAssert.AreEqual(expected, Pieces(Sequence(Split(Qwen2), ByteLevel(useRegex: false)), Sample));
    }

    [TestMethod]
    public void Gpt2ByteLevelRegexKeepsSpacesInFrontOfWordsAndNumbers()
    {
        string[] expected = ["Hello", " world", "'s", " 12345", "!!", "\n\n ", " x"];

        CollectionAssert.AreEqual(expected, Pieces(ByteLevel(), Sample));
    }

    [TestMethod]
    public void SmolLm2SplitsDigitsBeforeTheByteLevelRegex()
    {
        var smolLm2 = Sequence(new System.Text.Json.Nodes.JsonObject { ["type"] = "Digits", ["individual_digits"] = true }, ByteLevel());

        CollectionAssert.AreEqual(new[] { "ab", " ", "1", "2", "3", " cd" }, Pieces(smolLm2, "ab 123 cd"));
    }
}
