using Microsoft.ML;

namespace LmHead.Extensions.Tests.MachineLearning;

public sealed class GreedyRow
{
    public float[] Probabilities { get; set; } = [];
}

/// <summary>NaN in, NaN reported, through the ML.NET layer (the tensor and CPU paths are tested in the core tests).</summary>
[TestClass]
public sealed class NaNReportingTests
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
