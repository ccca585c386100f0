using LmHead.Extensions.Decoding;
using TorchSharp;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Decoding;

[TestClass]
public sealed class LogitsProjectorTests
{
    private static float[,] RandomMatrix(Random random, int rows, int columns)
    {
        var m = new float[rows, columns];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                m[i, j] = (float)(random.NextDouble() * 2 - 1);
            }
        }

        return m;
    }

    private static Tensor ToTensor(float[,] m) => tensor(m.Cast<float>().ToArray(), [m.GetLength(0), m.GetLength(1)]);

    [TestMethod]
    public void ProjectsAHiddenVectorWithWeightAndBias()
    {
        var random = new Random(11);
        var weight = RandomMatrix(random, 37, 8);
        var bias = Reference.RandomLogits(random, 37);
        var hidden = Reference.RandomLogits(random, 8);
        using var w = ToTensor(weight);
        using var b = bias.ToTensor();
        using var projector = new LogitsProjector(w, b);
        using var logits = projector.Project(hidden.ToTensor());
        Assert.AreEqual(37, projector.VocabularySize);
        Assert.AreEqual(8, projector.HiddenSize);
        Reference.AssertClose(Reference.Project(weight, bias, hidden), logits.ToFloats(), 1e-5f);
    }

    [TestMethod]
    public void ProjectsABatchRowByRow()
    {
        var random = new Random(12);
        var weight = RandomMatrix(random, 20, 6);
        float[][] hidden = [.. Enumerable.Range(0, 3).Select(_ => Reference.RandomLogits(random, 6))];
        using var w = ToTensor(weight);
        using var projector = new LogitsProjector(w);
        using var logits = projector.Project(hidden.ToTensor());
        CollectionAssert.AreEqual(new long[] { 3, 20 }, logits.shape);
        var values = logits.ToFloats();
        for (int r = 0; r < 3; r++)
        {
            Reference.AssertClose(Reference.Project(weight, null, hidden[r]), values.Skip(r * 20).Take(20).ToArray(), 1e-5f);
        }
    }

    [TestMethod]
    public void ThrowsNamingBothSizesWhenTheHiddenVectorHasTheWrongSize()
    {
        using var w = zeros(10, 8);
        using var projector = new LogitsProjector(w);
        var ex = Assert.Throws<ArgumentException>(() => projector.Project(zeros(7)));
        Assert.AreEqual("hidden", ex.ParamName);
        StringAssert.Contains(ex.Message, "size 7");
        StringAssert.Contains(ex.Message, "hidden size 8");
    }

    [TestMethod]
    public void ThrowsWhenTheBiasDoesNotMatchTheVocabulary()
    {
        using var w = zeros(10, 8);
        using var b = zeros(9);
        var ex = Assert.Throws<ArgumentException>(() => new LogitsProjector(w, b));
        Assert.AreEqual("bias", ex.ParamName);
        StringAssert.Contains(ex.Message, "[10]");
    }

    [TestMethod]
    public void ThrowsWhenTheWeightIsNotAMatrix()
    {
        using var w = zeros(10);
        var ex = Assert.Throws<ArgumentException>(() => new LogitsProjector(w));
        Assert.AreEqual("weight", ex.ParamName);
    }

    [TestMethod]
    public void UsesALinearLayersWeightAndBias()
    {
        using var linear = nn.Linear(5, 12, hasBias: true);
        using var hidden = randn(5);
        using var projector = LogitsProjector.FromModule(linear);
        using var expected = linear.forward(hidden);
        using var actual = projector.Project(hidden);
        Reference.AssertClose(expected.detach().ToFloats(), actual.ToFloats(), 1e-6f);
    }

    [TestMethod]
    public void UsesATiedEmbeddingMatrix()
    {
        using var embedding = nn.Embedding(12, 5);
        using var hidden = randn(2, 5);
        using var projector = LogitsProjector.FromModule(embedding);
        using var expected = hidden.matmul(embedding.weight!.t());
        using var actual = projector.Project(hidden);
        Reference.AssertClose(expected.detach().ToFloats(), actual.ToFloats(), 1e-6f);
    }

    [TestMethod]
    public void KeepsWorkingAfterTheCallerDisposesItsHandle()
    {
        var w = ones(4, 3);
        using var projector = new LogitsProjector(w);
        w.Dispose();
        using var logits = projector.Project(ones(3));
        CollectionAssert.AreEqual(new[] { 3f, 3f, 3f, 3f }, logits.ToFloats());
    }

    [TestMethod]
    public void LeavesNoTensorsBehind()
    {
        using var w = randn(50, 16);
        using var projector = new LogitsProjector(w);
        using var hidden = randn(16);
        TensorTestExtensions.AssertNoTensorLeak(10_000, () => projector.Project(hidden).Dispose());
    }
}
