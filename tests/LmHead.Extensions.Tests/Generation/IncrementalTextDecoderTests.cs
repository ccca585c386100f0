using LmHead.Extensions.Generation;
using LmHead.Extensions.Tokenization;

namespace LmHead.Extensions.Tests.Generation;

[TestClass]
public sealed class IncrementalTextDecoderTests
{
    [TestMethod]
    [DataRow("I like 😀 and 猫 and 🇫🇷!")]
    [DataRow("😀😀😀")]
    [DataRow("naïve café — ok")]
    public void SplitCharactersComeOutWholeOnceAndNeverAsReplacementCharacters(string text)
    {
        var tokenizer = Gpt2Tokenizer.Default;
        var ids = tokenizer.EncodeToIds(text);
        Assert.IsGreaterThan(1, tokenizer.EncodeToIds("😀").Count, "the emoji must span several byte-level tokens for this test to mean anything");
        var decoder = new IncrementalTextDecoder(tokenizer);

        var pieces = ids.Select(decoder.Push).ToList();
        pieces.Add(decoder.Flush());

        Assert.AreEqual(text, string.Concat(pieces));
        Assert.IsFalse(pieces.Any(p => p.Contains('\uFFFD', StringComparison.Ordinal)));
    }

    [TestMethod]
    public void AnIncompleteCharacterAtTheEndIsFlushedAsAReplacementCharacter()
    {
        var tokenizer = Gpt2Tokenizer.Default;
        var ids = tokenizer.EncodeToIds("a😀");
        var decoder = new IncrementalTextDecoder(tokenizer);

        string released = string.Concat(ids.Take(ids.Count - 1).Select(decoder.Push));
        string flushed = decoder.Flush();

        Assert.AreEqual("a", released);
        Assert.StartsWith("\uFFFD", flushed);
    }
}
