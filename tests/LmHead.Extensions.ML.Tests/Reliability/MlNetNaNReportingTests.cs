using LmHead.Extensions.Tests.MachineLearning;
using Microsoft.ML;

namespace LmHead.Extensions.Tests.Reliability;

public sealed class GreedyRow
{
    public float[] Probabilities { get; set; } = [];
}

/// <summary>
/// The ML.NET row of the core package's <c>NaNReportingTests</c>, moved here because the core tests no longer reference
/// the ML.NET package (the two branches that added the test and split the package met in the merge).
/// </summary>
[TestClass]
public sealed class MlNetNaNReportingTests
{
    [TestMethod]
    public void TheMLNetGreedyColumnReportsNaNHiddenStatesAsNaN()
    {
        var ml = new MLContext(seed: 1);
        var (weight, bias) = LmHeadTestData.Head();
        using (weight)
        using (bias)
        {
            var data = ml.Data.LoadFromEnumerable(new[] { new HiddenRow { Hidden = [float.NaN, .. new float[LmHeadTestData.HiddenSize - 1]] } });
            var pipeline = ml.Transforms.ProjectToLogits("Logits", "Hidden", weight, bias)
                .Append(ml.Transforms.ScaleTemperature("Scaled", "Logits", 0f))
                .Append(ml.Transforms.NormalizeToProbabilities("Probabilities", "Scaled"));
            var model = pipeline.Fit(data);
            var ex = Assert.ThrowsExactly<ArgumentException>(() => ml.Data.CreateEnumerable<GreedyRow>(model.Transform(data), reuseRowObject: false).ToList());
            StringAssert.Contains(ex.Message, "is NaN");
        }
    }
}
