using LmHead.Extensions.Decoding;
using LmHead.Extensions.Tokenization;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests;

[TestClass]
public sealed class LanguageModelHeadTests
{
    [TestMethod]
    public void GetTopTokenRejectsAnIdTheTokenizerCannotDecodeNamingItAndTheVocabularySize()
    {
        // A row wider than GPT-2's 50,257 tokens (a padded vocabulary) with all its mass on id 50300.
        var values = new float[50304];
        values[50300] = 1f;
        using var probabilities = tensor(values);
        var ex = Assert.ThrowsExactly<ArgumentException>(() => LanguageModelHead.GetTopToken(probabilities, Gpt2Tokenizer.Default, seed: 1));
        Assert.AreEqual("probabilities", ex.ParamName);
        StringAssert.Contains(ex.Message, "token id 50300");
        StringAssert.Contains(ex.Message, $"{Gpt2Tokenizer.VocabularySize} tokens");
    }

    [TestMethod]
    public void GetTopTokenStillDecodesTheLastIdOfTheVocabulary()
    {
        var values = new float[50304];
        values[Gpt2Tokenizer.EndOfTextTokenId] = 1f;
        using var probabilities = tensor(values);
        Assert.AreEqual("<|endoftext|>", LanguageModelHead.GetTopToken(probabilities, Gpt2Tokenizer.Default, seed: 1));
    }

    [TestMethod]
    [DataRow(ScalarType.Int64)]
    [DataRow(ScalarType.Int32)]
    [DataRow(ScalarType.Bool)]
    public void ComputeProbabilitiesRejectsANonFloatingPointHiddenVector(ScalarType dtype)
    {
        using var weight = randn(300, 32);
        using var projector = new LogitsProjector(weight);
        using var vector = ones(32).to_type(dtype);
        var ex = Assert.ThrowsExactly<ArgumentException>(() => LanguageModelHead.ComputeProbabilities(projector, vector).Dispose());
        Assert.AreEqual("vector", ex.ParamName);
        StringAssert.Contains(ex.Message, dtype.ToString());
        StringAssert.Contains(ex.Message, "floating-point");

        var projected = Assert.ThrowsExactly<ArgumentException>(() => projector.Project(vector).Dispose());
        Assert.AreEqual("hidden", projected.ParamName);
        StringAssert.Contains(projected.Message, dtype.ToString());
    }
}
