using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.Tests.Decoding;

[TestClass]
public sealed class TopKFilterTests
{
    [TestMethod]
    [DataRow(1)]
    [DataRow(3)]
    [DataRow(17)]
    public void KeepsExactlyKHighestLogits(int k)
    {
        var random = new Random(k);
        for (int trial = 0; trial < 20; trial++)
        {
            var logits = Reference.RandomLogits(random, 40);
            using var input = logits.ToTensor();
            using var output = new TopKFilter(k).Apply(input);
            var values = output.ToFloats();
            CollectionAssert.AreEqual(Reference.TopK(logits, k), values);
            Assert.AreEqual(k, values.Count(float.IsFinite));
        }
    }

    [TestMethod]
    public void BreaksTiesAtTheKthValueTowardTheLowerTokenId()
    {
        float[] logits = [2f, 5f, 2f, 1f, 2f, 5f, 2f];
        using var input = logits.ToTensor();
        using var output = new TopKFilter(4).Apply(input);
        float ninf = float.NegativeInfinity;
        CollectionAssert.AreEqual(new[] { 2f, 5f, 2f, ninf, ninf, 5f, ninf }, output.ToFloats());
    }

    [TestMethod]
    public void BreaksTiesPerRowInABatch()
    {
        float[][] rows = [[1f, 1f, 1f, 1f], [0f, 3f, 3f, 3f]];
        using var input = rows.ToTensor();
        using var output = new TopKFilter(2).Apply(input);
        float ninf = float.NegativeInfinity;
        CollectionAssert.AreEqual(new[] { 1f, 1f, ninf, ninf, ninf, 3f, 3f, ninf }, output.ToFloats());
    }

    [TestMethod]
    public void KeepsEveryLogitWhenKIsAtLeastTheVocabularySize()
    {
        float[] logits = [0.5f, -1f, 2f];
        using var input = logits.ToTensor();
        using var output = new TopKFilter(3).Apply(input);
        using var larger = new TopKFilter(1000).Apply(input);
        CollectionAssert.AreEqual(logits, output.ToFloats());
        CollectionAssert.AreEqual(logits, larger.ToFloats());
    }

    [TestMethod]
    public void LeavesRemovedTokensRemoved()
    {
        float ninf = float.NegativeInfinity;
        float[] logits = [ninf, 1f, ninf, 0f];
        using var input = logits.ToTensor();
        using var output = new TopKFilter(3).Apply(input);
        CollectionAssert.AreEqual(logits, output.ToFloats());
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(-5)]
    public void ThrowsWhenKIsNotPositive(int k)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new TopKFilter(k));
        Assert.AreEqual("k", ex.ParamName);
        StringAssert.Contains(ex.Message, $"but was {k}");
    }

    [TestMethod]
    public void ThrowsWhenALogitIsNaN()
    {
        using var input = new[] { 1f, float.NaN, 0f }.ToTensor();
        var ex = Assert.Throws<ArgumentException>(() => new TopKFilter(1).Apply(input));
        Assert.AreEqual("logits", ex.ParamName);
        StringAssert.Contains(ex.Message, "token 1");
        StringAssert.Contains(ex.Message, "NaN");
    }

    [TestMethod]
    public void ConformsToTheStageContract() => StageConformance.Check(new TopKFilter(5));
}
