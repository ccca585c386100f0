using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

[TestClass]
public sealed class SoftmaxNormalizerTests
{
    [TestMethod]
    public void MatchesAPlainSoftmaxOnRowsAndBatches()
    {
        var random = new Random(3);
        float[][] rows = [.. Enumerable.Range(0, 5).Select(_ => Reference.RandomLogits(random, 30, 8f))];
        using var batch = rows.ToTensor();
        using var output = new SoftmaxNormalizer().Normalize(batch);
        var values = output.ToFloats();
        for (int r = 0; r < rows.Length; r++)
        {
            Reference.AssertClose(Reference.Softmax(rows[r]), values.Skip(r * 30).Take(30).ToArray(), 1e-6f, $"row {r}");
            using var single = new SoftmaxNormalizer().Normalize(rows[r].ToTensor());
            Reference.AssertClose(Reference.Softmax(rows[r]), single.ToFloats(), 1e-6f, $"single row {r}");
        }
    }

    [TestMethod]
    public void StaysFiniteForHugeLogits()
    {
        float[] logits = [1000f, 999f, -1000f];
        using var output = new SoftmaxNormalizer().Normalize(logits.ToTensor());
        var values = output.ToFloats();
        Reference.AssertClose(Reference.Softmax(logits), values, 1e-6f);
        Assert.IsTrue(values.All(float.IsFinite));
    }

    [TestMethod]
    public void GivesZeroProbabilityToNegativeInfinity()
    {
        float ninf = float.NegativeInfinity;
        using var output = new SoftmaxNormalizer().Normalize(new[] { ninf, 0f, ninf, 0f }.ToTensor());
        CollectionAssert.AreEqual(new[] { 0f, 0.5f, 0f, 0.5f }, output.ToFloats());
    }

    [TestMethod]
    public void ThrowsWhenARowIsEntirelyNegativeInfinity()
    {
        float ninf = float.NegativeInfinity;
        float[][] rows = [[0f, 1f], [ninf, ninf]];
        var ex = Assert.Throws<ArgumentException>(() => new SoftmaxNormalizer().Normalize(rows.ToTensor()));
        Assert.AreEqual("logits", ex.ParamName);
        StringAssert.Contains(ex.Message, "row 1");
        StringAssert.Contains(ex.Message, "-infinity");
    }

    [TestMethod]
    public void ThrowsWhenALogitIsNaNNamingRowAndToken()
    {
        float[][] rows = [[0f, 1f, 2f], [0f, float.NaN, 1f]];
        var ex = Assert.Throws<ArgumentException>(() => new SoftmaxNormalizer().Normalize(rows.ToTensor()));
        StringAssert.Contains(ex.Message, "token 1 in row 1");
        StringAssert.Contains(ex.Message, "NaN");
    }

    [TestMethod]
    public void ThrowsWhenALogitIsPositiveInfinity()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SoftmaxNormalizer().Normalize(new[] { float.PositiveInfinity, 0f }.ToTensor()));
        StringAssert.Contains(ex.Message, "+infinity");
    }

    [TestMethod]
    public void KeepsTheInputDtype()
    {
        using var input = new[] { 0.5f, 1f, 2f }.ToTensor().to_type(ScalarType.Float64);
        using var output = new SoftmaxNormalizer().Normalize(input);
        Assert.AreEqual(ScalarType.Float64, output.dtype);
        Assert.AreEqual(1.0, output.sum().item<double>(), 1e-12);
    }

    [TestMethod]
    public void LeavesNoTensorsBehind()
    {
        using var input = Reference.RandomLogits(new Random(1), 100).ToTensor();
        TensorTestExtensions.AssertNoTensorLeak(10_000, () => new SoftmaxNormalizer().Normalize(input).Dispose());
    }
}
