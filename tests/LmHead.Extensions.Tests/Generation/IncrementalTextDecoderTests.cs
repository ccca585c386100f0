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

    [TestMethod]
    public void AnIdTheTokenizerCannotDecodeIsAnErrorNotAnEmptyString()
    {
        var decoder = new IncrementalTextDecoder(Gpt2Tokenizer.Default);
        Assert.AreEqual("Hello", decoder.Push(Gpt2Tokenizer.Default.EncodeToIds("Hello")[0]));
        // A model with a padded vocabulary (50,304) can choose an id past the tokenizer's 50,257.
        var ex = Assert.ThrowsExactly<InvalidOperationException>(() => decoder.Push(50300));
        StringAssert.Contains(ex.Message, "token id 50300");
        StringAssert.Contains(ex.Message, "50257 tokens");
        Assert.ThrowsExactly<InvalidOperationException>(() => decoder.Push(-1));
    }
}
