using System.Text;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;
using static LmHead.Extensions.Tests.Tokenization.SentencePieceJsonFile;

namespace LmHead.Extensions.Tests.Tokenization;

/// <summary>
/// SentencePiece-style <c>tokenizer.json</c> (Llama 2, TinyLlama, Mistral) on a hand-made vocabulary; every expected id
/// list below is worked by hand from the Hugging Face rules: a "▁" prepended, spaces spelled "▁", the lowest-ranked
/// adjacent pair merged first (leftmost on a tie), and a character missing from the vocabulary spelled as its UTF-8
/// bytes &lt;0xNN&gt;.
/// </summary>
[TestClass]
public sealed class SentencePieceTokenizerTests
{
    private static readonly string[] Corpus =
    [
        "hello world", "hello", "  two  spaces", "trailing ", "hi there", "naïve café € 日本語", "emoji 😀 and 🧑‍🚀", "line\nbreak\ttab",
        "lll", "",
    ];

    [TestMethod]
    public void MergesInTheFilesOrderAfterPrependingASpace()
    {
        var tokenizer = TokenizerJson.Parse(Legacy());

        // "▁hello▁world": ▁h, ll, ell, ▁hell, ▁hello, ▁w, or, ▁wor; then "l" and "d" stay single.
        CollectionAssert.AreEqual(new[] { SpHello, SpWor, L, D }, tokenizer.EncodeToIds("hello world").ToArray());
        // "▁lll": the two "l l" pairs tie on rank; the leftmost merges first.
        CollectionAssert.AreEqual(new[] { Sp, Ll, L }, tokenizer.EncodeToIds("lll").ToArray());
    }

    [TestMethod]
    public void SpellsCharactersOutsideTheVocabularyAsTheirUtf8Bytes()
    {
        var tokenizer = TokenizerJson.Parse(Legacy());

        // "i" is not a piece: 0x69. "é" is a piece. "€" is E2 82 AC; "😀" (a surrogate pair) is F0 9F 98 80.
        CollectionAssert.AreEqual(new[] { SpH, Byte(0x69) }, tokenizer.EncodeToIds("hi").ToArray());
        CollectionAssert.AreEqual(new[] { Sp, EAcute, Byte(0xE2), Byte(0x82), Byte(0xAC) }, tokenizer.EncodeToIds("é€").ToArray());
        CollectionAssert.AreEqual(new[] { Sp, Byte(0xF0), Byte(0x9F), Byte(0x98), Byte(0x80) }, tokenizer.EncodeToIds("😀").ToArray());
    }

    [TestMethod]
    public void TheLegacyNormalizerPrependsASpaceToEveryPieceBetweenAddedTokens()
    {
        var tokenizer = TokenizerJson.Parse(Legacy());

        // Two leading spaces become "▁▁" after the prepended "▁": ▁ ▁ ▁hello.
        CollectionAssert.AreEqual(new[] { Sp, Sp, SpHello }, tokenizer.EncodeToIds("  hello").ToArray());
        // Added tokens are cut out first and the normalizer runs on each piece: "hello" after "<s>" is "▁hello".
        CollectionAssert.AreEqual(new[] { Bos, SpHello, Eos }, tokenizer.EncodeToIds("<s>hello</s>").ToArray());
    }

    [TestMethod]
    public void MetaspaceWithPrependSchemeFirstPrependsOnlyAtTheStartOfTheText()
    {
        var tokenizer = TokenizerJson.Parse(Metaspace("first"));

        CollectionAssert.AreEqual(new[] { SpHello, SpWor, L, D }, tokenizer.EncodeToIds("hello world").ToArray());
        // After "<s>" no "▁": h + ell + o.
        CollectionAssert.AreEqual(new[] { Bos, H, Ell, O, Eos }, tokenizer.EncodeToIds("<s>hello</s>").ToArray());
        // A text that starts with a space gets no second "▁".
        CollectionAssert.AreEqual(new[] { Sp, SpHello }, tokenizer.EncodeToIds("  hello").ToArray());
    }

    [TestMethod]
    public void MetaspaceWithPrependSchemeAlwaysPrependsAfterAddedTokensToo()
    {
        var tokenizer = TokenizerJson.Parse(Metaspace("always"));

        CollectionAssert.AreEqual(new[] { Bos, SpHello, Eos }, tokenizer.EncodeToIds("<s>hello</s>").ToArray());
        CollectionAssert.AreEqual(new[] { Sp, SpHello }, tokenizer.EncodeToIds("  hello").ToArray());
    }

    [TestMethod]
    public void WithoutByteFallbackUnknownCharactersBecomeOneFusedUnknownToken()
    {
        var fused = TokenizerJson.Parse(Legacy(byteFallback: false));
        var separate = TokenizerJson.Parse(Legacy(byteFallback: false, fuseUnknown: false));

        CollectionAssert.AreEqual(new[] { SpH, Unknown, E }, fused.EncodeToIds("hiie").ToArray());
        CollectionAssert.AreEqual(new[] { SpH, Unknown, Unknown, E }, separate.EncodeToIds("hiie").ToArray());
    }

    [TestMethod]
    public void DecodesSpacesBytesAndAddedTokensAndStripsTheOneLeadingSpace()
    {
        var tokenizer = TokenizerJson.Parse(Legacy());

        Assert.AreEqual("hello world", tokenizer.Decode([SpHello, SpWor, L, D]));
        Assert.AreEqual("<s> hello</s>", tokenizer.Decode([Bos, SpHello, Eos]));
        Assert.AreEqual("é€", tokenizer.Decode([Sp, EAcute, Byte(0xE2), Byte(0x82), Byte(0xAC)]));
        // An incomplete UTF-8 sequence decodes to one U+FFFD per byte, as Hugging Face's ByteFallback decoder does.
        Assert.AreEqual("h\uFFFD\uFFFD", tokenizer.Decode([H, Byte(0xE2), Byte(0x82)]));
    }

    [TestMethod]
    public void TheMetaspaceDecoderDropsEverySpaceOfTheFirstTokenAndTheStripDecoderOnlyOne()
    {
        var metaspace = TokenizerJson.Parse(Metaspace("first"));
        var legacy = TokenizerJson.Parse(Legacy());

        // Hugging Face's Metaspace decoder removes every "▁" of the first token; Strip removes one leading space.
        Assert.AreEqual(" hello", metaspace.Decode([SpSp, SpHello]));
        Assert.AreEqual("  hello", legacy.Decode([SpSp, SpHello]));
        // A first token without "▁" (here an added token) leaves the next token's space alone.
        Assert.AreEqual("<s> hello", metaspace.Decode([Bos, SpHello]));
        Assert.AreEqual("hello world", metaspace.Decode([SpHello, SpWor, L, D]));
    }

    [TestMethod]
    public void RoundTripsAVariedCorpus()
    {
        var tokenizer = TokenizerJson.Parse(Legacy());

        foreach (string text in Corpus)
        {
            Assert.AreEqual(text, tokenizer.Decode(tokenizer.EncodeToIds(text)), $"text: {text}");
        }
    }

    [TestMethod]
    public void StreamingDecodeKeepsTheSpacesBetweenChunks()
    {
        var tokenizer = TokenizerJson.Parse(Legacy());
        int[] ids = [.. tokenizer.EncodeToIds("hello world é€ hello")];
        var decoder = new IncrementalTextDecoder(tokenizer);

        var text = new StringBuilder();
        foreach (int id in ids)
        {
            text.Append(decoder.Push(id));
        }

        text.Append(decoder.Flush());
        Assert.AreEqual(tokenizer.Decode(ids), text.ToString());
    }

    [TestMethod]
    public void PromptEncodingKeepsAddedTokenTextPlainUnlessAllowed()
    {
        var tokenizer = TokenizerJson.Parse(Legacy());

        int[] plain = PromptEncoding.Encode(tokenizer, "</s>", allowSpecialTokens: false);
        int[] allowed = PromptEncoding.Encode(tokenizer, "</s>", allowSpecialTokens: true);

        // "▁</s>" as plain characters: ▁ then '<' '/' 's' '>' as bytes (none of them is a piece).
        CollectionAssert.AreEqual(new[] { Sp, Byte('<'), Byte('/'), Byte('s'), Byte('>') }, plain);
        CollectionAssert.AreEqual(new[] { Eos }, allowed);
    }

    [TestMethod]
    public void EveryIdOfTheVocabularyIsKnownAndTheNextIsNot()
    {
        var tokenizer = TokenizerJson.Parse(Legacy());

        Assert.IsTrue(TokenizerVocabulary.Knows(tokenizer, Sp), "'▁' decodes to an empty string but is a token");
        Assert.AreEqual(SpSp + 1, TokenizerVocabulary.Size(tokenizer));
    }

    [TestMethod]
    [DataRow("\"merges\":[\"\u2581 h\"", "\"merges\":[\"\u2581 q\"", "model.merges[0]", "\u2581 q")]
    [DataRow("\"prepend\":\"\u2581\"", "\"prepend\":\"_\"", "normalizer.normalizers[0].prepend", "_")]
    [DataRow("\"type\":\"Fuse\"", "\"type\":\"CTC\"", "decoder.decoders[2].type", "CTC")]
    [DataRow("\"unk_token\":\"<unk>\"", "\"unk_token\":\"<nope>\"", "model.unk_token", "<nope>")]
    [DataRow("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\u2581\"}", "{\"type\":\"Lowercase\"}", "normalizer.normalizers[1].type", "Lowercase")]
    public void NamesTheJsonPathAndValueOfWhatItCannotRead(string find, string replace, string path, string value)
    {
        string json = Legacy();
        Assert.Contains(find, json, "the test's edit must apply");

        var error = Assert.ThrowsExactly<ModelFormatException>(() => TokenizerJson.Parse(json.Replace(find, replace, StringComparison.Ordinal), "t.json"));

        Assert.AreEqual(path, error.Key);
        Assert.Contains(value, error.Message);
    }

    [TestMethod]
    public void ALlamaFolderReadsASentencePieceTokenizerJson()
    {
        string folder = Directory.CreateTempSubdirectory().FullName;
        File.WriteAllText(Path.Combine(folder, TokenizerJson.FileName), Legacy());

        var tokenizer = LlamaPretrained.LoadTokenizer(folder);

        CollectionAssert.AreEqual(new[] { Bos, SpHello }, tokenizer.EncodeToIds("<s>hello").ToArray());
    }
}
