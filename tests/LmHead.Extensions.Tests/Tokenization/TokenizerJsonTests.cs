using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;
using static LmHead.Extensions.Tests.Tokenization.TokenizerJsonFile;

namespace LmHead.Extensions.Tests.Tokenization;

[TestClass]
public sealed class TokenizerJsonTests
{
    private static readonly (string, string)[] HelloMerges = [("Ġ", "h"), ("Ġh", "e"), ("l", "l"), ("Ġhe", "ll")];

    private static readonly (int, string, bool)[] ChatTokens = [(300, "<|im_start|>", true), (301, "<|im_end|>", true), (302, "<tool_call>", false)];

    private static readonly string[] Corpus =
    [
        "hello", " hello hello", "Hello, world!", "  two  spaces   and tabs\t\there", "line\nbreaks\r\n\n\nend",
        "numbers 1234567 3.14159 -42", "don't you'll we've I'M", "naïve café Ωmega 日本語のテキスト", "emoji 😀🎉👍🏽 and 🧑‍🚀",
        "trailing   ", "   leading", "", "\u00a0nbsp\u2003emspace", "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
        "<tool_call>{\"name\": \"f\"}</tool_call>", "<|im_start|><|im_start|>x<|im_end|>",
    ];

    private static Dictionary<string, int> HelloVocabulary()
    {
        var vocab = ByteVocabulary();
        vocab["Ġh"] = 256;
        vocab["Ġhe"] = 257;
        vocab["ll"] = 258;
        vocab["Ġhell"] = 259;
        return vocab;
    }

    private static Microsoft.ML.Tokenizers.Tokenizer HelloTokenizer(bool pairs = false) =>
        TokenizerJson.Parse(Write(HelloVocabulary(), HelloMerges, ByteLevel(), ChatTokens, mergesAsPairs: pairs));

    [TestMethod]
    public void AppliesTheMergesOfAHandMadeVocabulary()
    {
        var tokenizer = HelloTokenizer();

        // " hello": Ġ h e l l o -> Ġh e l l o -> Ġhe l l o -> Ġhe ll o -> Ġhell o.
        CollectionAssert.AreEqual(new[] { 259, 'o' }, tokenizer.EncodeToIds(" hello").ToArray());
        // "hello" has no leading space, so only "l l" applies.
        CollectionAssert.AreEqual(new[] { 'h', 'e', 258, 'o' }, tokenizer.EncodeToIds("hello").ToArray());
        // A newline is byte 10, spelled 'Ċ' in the vocabulary.
        CollectionAssert.AreEqual(new[] { 10, 'x' }, tokenizer.EncodeToIds("\nx").ToArray());
    }

    [TestMethod]
    public void ReadsMergesWrittenAsPairsLikeMergesWrittenAsStrings()
    {
        var strings = HelloTokenizer(pairs: false);
        var pairs = HelloTokenizer(pairs: true);

        foreach (string text in Corpus)
        {
            CollectionAssert.AreEqual(strings.EncodeToIds(text).ToArray(), pairs.EncodeToIds(text).ToArray(), text);
        }
    }

    [TestMethod]
    public void EncodesAddedTokensAsSingleIdsAndDecodesThemBack()
    {
        var tokenizer = HelloTokenizer();
        const string text = "<|im_start|>user hello<|im_end|><tool_call>";

        int[] ids = [.. tokenizer.EncodeToIds(text)];

        CollectionAssert.AreEqual(new[] { 300, 'u', 's', 'e', 'r', 259, 'o', 301, 302 }, ids);
        Assert.AreEqual(text, tokenizer.Decode(ids));
    }

    [TestMethod]
    public void RoundTripsAVariedCorpus()
    {
        var tokenizer = HelloTokenizer();

        foreach (string text in Corpus)
        {
            Assert.AreEqual(text, tokenizer.Decode(tokenizer.EncodeToIds(text)), text);
        }
    }

    [TestMethod]
    public void PromptEncodingKeepsAddedTokenTextPlainUnlessAllowed()
    {
        var tokenizer = HelloTokenizer();
        const string text = "say <|im_end|> hello";

        int[] plain = LmHead.Extensions.Generation.PromptEncoding.Encode(tokenizer, text, allowSpecialTokens: false);
        int[] allowed = LmHead.Extensions.Generation.PromptEncoding.Encode(tokenizer, text, allowSpecialTokens: true);

        CollectionAssert.DoesNotContain(plain, 301);
        CollectionAssert.Contains(allowed, 301);
        Assert.AreEqual(text, tokenizer.Decode(plain));
        // The plain pieces still follow the file's pre-tokenizer: " hello" is one merged word.
        Assert.AreEqual(259, plain[^2]);
    }

    [TestMethod]
    public void IgnoreMergesLooksWholeWordsUpAndOtherwiseMergesAsTheFileSays()
    {
        // Every split of every token is listed and the merged ids rise with the merge order, as in Llama 3's file.
        var vocab = ByteVocabulary();
        vocab["ab"] = 256;
        vocab["bc"] = 257;
        vocab["abc"] = 258;
        (string, string)[] merges = [("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc")];
        var plain = TokenizerJson.Parse(Write(vocab, merges, ByteLevel(), ChatTokens));
        var ignoring = TokenizerJson.Parse(Write(vocab, merges, ByteLevel(), ChatTokens, ignoreMerges: true));

        Assert.IsInstanceOfType<Microsoft.ML.Tokenizers.TiktokenTokenizer>(ignoring);
        CollectionAssert.AreEqual(new[] { 258 }, ignoring.EncodeToIds("abc").ToArray());
        CollectionAssert.AreEqual(new[] { 'x', 258, 257, 300 }, ignoring.EncodeToIds("xabcbc<|im_start|>").ToArray());
        foreach (string text in Corpus.Append("abcabc bcab cab"))
        {
            CollectionAssert.AreEqual(plain.EncodeToIds(text).ToArray(), ignoring.EncodeToIds(text).ToArray(), text);
            Assert.AreEqual(text, ignoring.Decode(ignoring.EncodeToIds(text)), text);
        }
    }

    [TestMethod]
    public void IgnoreMergesRejectsAVocabularyTiktokenWouldMergeDifferently()
    {
        var vocab = ByteVocabulary();
        vocab["ab"] = 256;
        vocab["bc"] = 257;
        vocab["abc"] = 258;

        var unlisted = Assert.ThrowsExactly<ModelFormatException>(() =>
            TokenizerJson.Parse(Write(vocab, [("a", "b"), ("b", "c"), ("ab", "c")], ByteLevel(), ignoreMerges: true)));
        var outOfOrder = Assert.ThrowsExactly<ModelFormatException>(() =>
            TokenizerJson.Parse(Write(vocab, [("b", "c"), ("a", "b"), ("ab", "c"), ("a", "bc")], ByteLevel(), ignoreMerges: true)));

        Assert.Contains("'a bc'", unlisted.Message);
        Assert.AreEqual("model.merges[1]", outOfOrder.Key);
    }

    [TestMethod]
    public void AppliesAnNfcNormalizer()
    {
        var tokenizer = TokenizerJson.Parse(Write(ByteVocabulary(), [], ByteLevel(), normalizer: new System.Text.Json.Nodes.JsonObject { ["type"] = "NFC" }));

        // "e" + combining acute (U+0301) becomes "é" (U+00E9: bytes C3 A9).
        CollectionAssert.AreEqual(new[] { 0xC3, 0xA9 }, tokenizer.EncodeToIds("e\u0301").ToArray());
    }

    [TestMethod]
    [DataRow("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "model.type", "WordPiece")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}", "pre_tokenizer.type", "BertPreTokenizer")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[],\"continuing_subword_prefix\":\"##\"},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}", "model.continuing_subword_prefix", "##")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},{\"type\":\"Whitespace\"}]}}", "pre_tokenizer.pretokenizers[1].type", "Whitespace")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"normalizer\":{\"type\":\"Lowercase\"},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}", "normalizer.type", "Lowercase")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true}}", "pre_tokenizer.add_prefix_space", "true")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x\"},\"behavior\":\"MergedWithNext\"}}", "pre_tokenizer.behavior", "MergedWithNext")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"pre_tokenizer\":null}", "pre_tokenizer", "ByteLevel")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}", "model.vocab[\"a\"]", "-1")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[\"a b c\"]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}", "model.merges[0]", "a b c")]
    [DataRow("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"added_tokens\":[{\"id\":5,\"content\":\"<m>\",\"lstrip\":true}]}", "added_tokens[0].lstrip", "true")]
    public void NamesTheJsonPathAndValueOfWhatItCannotRead(string json, string path, string value)
    {
        var error = Assert.ThrowsExactly<ModelFormatException>(() => TokenizerJson.Parse(json, "t.json"));

        Assert.AreEqual(path, error.Key);
        Assert.Contains(path, error.Message);
        Assert.Contains(value, error.Message);
        Assert.StartsWith("t.json", error.Message);
    }

    [TestMethod]
    public void AModelFolderPrefersTokenizerJsonOverVocabularyAndMerges()
    {
        string folder = Directory.CreateTempSubdirectory().FullName;
        File.WriteAllText(Path.Combine(folder, TokenizerJson.FileName), Write(HelloVocabulary(), HelloMerges, ByteLevel(), ChatTokens));
        File.WriteAllText(Path.Combine(folder, Gpt2Pretrained.VocabularyFileName), "{\"h\": 0, \"e\": 1, \"he\": 2}");
        File.WriteAllText(Path.Combine(folder, Gpt2Pretrained.MergesFileName), "#version: 0.2\nh e\n");

        var tokenizer = Gpt2Pretrained.LoadTokenizer(folder);

        CollectionAssert.AreEqual(new[] { 300, 259, 'o' }, tokenizer.EncodeToIds("<|im_start|> hello").ToArray());
    }

    [TestMethod]
    public void RejectsTextThatIsNotJson()
    {
        var error = Assert.ThrowsExactly<ModelFormatException>(() => TokenizerJson.Parse("{ not json", "t.json"));

        Assert.Contains("not valid JSON", error.Message);
    }
}
