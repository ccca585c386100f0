using LmHead.Extensions.Generation;

namespace LmHead.Extensions.Tests.Generation;

[TestClass]
public sealed class GenerationOptionsTests
{
    [TestMethod]
    public void RejectsOutOfRangeValuesNamingTheProperty()
    {
        Assert.AreEqual("MaxNewTokens", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { MaxNewTokens = 0 }).ParamName);
        Assert.AreEqual("Temperature", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { Temperature = -0.1f }).ParamName);
        Assert.AreEqual("Temperature", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { Temperature = float.NaN }).ParamName);
        Assert.AreEqual("TopK", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { TopK = 0 }).ParamName);
        Assert.AreEqual("TopLogProbabilities", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GenerationOptions { TopLogProbabilities = 21 }).ParamName);
        Assert.AreEqual("StopSequences", Assert.ThrowsExactly<ArgumentException>(() => new GenerationOptions { StopSequences = [""] }).ParamName);
    }

    [TestMethod]
    public void DefaultsAreTheSeedsDecodingDefaults()
    {
        var options = new GenerationOptions();

        Assert.AreEqual(0.7f, options.Temperature);
        Assert.AreEqual(50, options.TopK);
        Assert.AreEqual(64, options.MaxNewTokens);
        Assert.IsEmpty(options.StopSequences);
        Assert.IsNull(options.Seed);
    }
}
