using LmHead.Extensions.Decoding;
using Microsoft.ML;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.MachineLearning;

public sealed class FilteredRow
{
    public float[] Logits { get; set; } = [];

    public float[] Filtered { get; set; } = [];
}

[TestClass]
public sealed class LogitsFilteringTransformerTests
{
    private static Microsoft.ML.Data.EstimatorChain<LmHead.Extensions.MachineLearning.LogitsStageTransformer> Chain(MLContext ml, Tensor weight, Tensor bias) =>
        ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias)
            .Append(ml.Transforms.AddLogitBias("Biased", "Logits", new Dictionary<int, float> { [3] = 2f, [4] = float.NegativeInfinity }))
            .Append(ml.Transforms.KeepTopP("Nucleus", "Biased", 0.8f))
            .Append(ml.Transforms.KeepMinP("Filtered", "Nucleus", 0.1f));

    private static float[] Expected(float[] logits)
    {
        using var scope = NewDisposeScope();
        var biased = new LogitBias(new Dictionary<int, float> { [3] = 2f, [4] = float.NegativeInfinity }).Apply(tensor(logits));
        return new MinPFilter(0.1f).Apply(new TopPFilter(0.8f).Apply(biased)).data<float>().ToArray();
    }

    [TestMethod]
    public void TopPMinPAndBiasColumnsEqualTheTensorStages()
    {
        var ml = new MLContext(seed: 1);
        var (weight, bias) = Head();
        using (weight)
        using (bias)
        {
            var data = ml.Data.LoadFromEnumerable(Rows(6));
            var rows = ml.Data.CreateEnumerable<FilteredRow>(Chain(ml, weight, bias).Fit(data).Transform(data), reuseRowObject: false).ToList();
            Assert.HasCount(6, rows);
            foreach (var row in rows)
            {
                CollectionAssert.AreEqual(Expected(row.Logits), row.Filtered);
                Assert.IsTrue(float.IsNegativeInfinity(row.Filtered[4]), "the banned token is removed");
            }
        }
    }

    [TestMethod]
    public void TheFiltersSaveAndLoadInAFreshContext()
    {
        var ml = new MLContext(seed: 1);
        var (weight, bias) = Head();
        using (weight)
        using (bias)
        {
            var data = ml.Data.LoadFromEnumerable(Rows(4));
            var model = Chain(ml, weight, bias).Fit(data);
            var before = ml.Data.CreateEnumerable<FilteredRow>(model.Transform(data), reuseRowObject: false).ToList();
            using var stream = new MemoryStream();
            ml.Model.Save(model, data.Schema, stream);
            stream.Position = 0;
            var fresh = new MLContext(seed: 2);
            var loaded = fresh.Model.Load(stream, out _);
            var after = fresh.Data.CreateEnumerable<FilteredRow>(loaded.Transform(fresh.Data.LoadFromEnumerable(Rows(4))), reuseRowObject: false).ToList();
            for (int i = 0; i < before.Count; i++)
            {
                CollectionAssert.AreEqual(Expected(after[i].Logits), after[i].Filtered, $"row {i} after load");
                Assert.AreEqual(before[i].Filtered.Count(float.IsFinite), after[i].Filtered.Count(float.IsFinite), $"row {i} keeps the same tokens");
            }
        }
    }

    [TestMethod]
    public void InvalidOptionsAreRejectedWhenThePipelineIsBuilt()
    {
        var ml = new MLContext();
        Assert.AreEqual("p", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.KeepTopP("a", "b", 0f)).ParamName);
        Assert.AreEqual("minP", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.KeepMinP("a", "b", 2f)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.AddLogitBias("a", "b", new Dictionary<int, float> { [1] = float.NaN }));
    }
}
