using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.Tests.Decoding;

[TestClass]
public sealed class TemperatureScalerTests
{
    [TestMethod]
    [DataRow(0.7f)]
    [DataRow(1.5f)]
    [DataRow(0.05f)]
    public void DividesEveryLogitByTheTemperature(float temperature)
    {
        var logits = Reference.RandomLogits(new Random(1), 50);
        using var input = logits.ToTensor();
        using var output = new TemperatureScaler(temperature).Apply(input);
        Reference.AssertClose(Reference.Scale(logits, temperature), output.ToFloats(), 1e-6f);
    }

    [TestMethod]
    public void TemperatureOneLeavesLogitsUnchanged()
    {
        var scaler = new TemperatureScaler(1f);
        Assert.IsTrue(scaler.IsIdentity);
        float[] logits = [1f, -2f, 3.5f];
        using var input = logits.ToTensor();
        using var output = scaler.Apply(input);
        CollectionAssert.AreEqual(logits, output.ToFloats());
    }

    [TestMethod]
    public void TemperatureZeroKeepsOnlyTheFirstMaximum()
    {
        float[] logits = [1f, 4f, -2f, 4f, 0f];
        using var input = logits.ToTensor();
        using var output = new TemperatureScaler(0f).Apply(input);
        float ninf = float.NegativeInfinity;
        CollectionAssert.AreEqual(new[] { ninf, 4f, ninf, ninf, ninf }, output.ToFloats());
    }

    [TestMethod]
    [DataRow(-0.1f)]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    [DataRow(float.NegativeInfinity)]
    public void ThrowsWhenTemperatureIsNegativeNaNOrInfinite(float temperature)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new TemperatureScaler(temperature));
        Assert.AreEqual("temperature", ex.ParamName);
        StringAssert.Contains(ex.Message, ">= 0");
    }

    [TestMethod]
    public void ConformsToTheStageContract() => StageConformance.Check(new TemperatureScaler(0.7f));

    [TestMethod]
    public void GreedyConformsToTheStageContract() => StageConformance.Check(new TemperatureScaler(0f));
}
