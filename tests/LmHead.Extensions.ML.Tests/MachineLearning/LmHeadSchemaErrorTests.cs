using LmHead.Extensions.MachineLearning;
using Microsoft.ML;
using Microsoft.ML.Data;
using static LmHead.Extensions.Tests.MachineLearning.LmHeadTestData;

namespace LmHead.Extensions.Tests.MachineLearning;

public sealed class ShortHiddenRow
{
    [VectorType(4)]
    public float[] Hidden { get; set; } = new float[4];
}

public sealed class DoubleHiddenRow
{
    [VectorType(HiddenSize)]
    public double[] Hidden { get; set; } = new double[HiddenSize];
}

public sealed class ScalarHiddenRow
{
    public float Hidden { get; set; }
}

public sealed class VariableHiddenRow
{
    public float[] Hidden { get; set; } = new float[HiddenSize];
}

[TestClass]
public sealed class LmHeadSchemaErrorTests
{
    private static readonly MLContext Ml = new(seed: 0);

    [TestMethod]
    public void FitNamesAMissingColumnAndTheColumnsThatExist()
    {
        using var head = new DisposableHead();
        var data = Ml.Data.LoadFromEnumerable(Rows(1));

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ml.Transforms.ProjectToLogits("Logits", "State", head.Weight, head.Bias).Fit(data));

        StringAssert.Contains(error.Message, "ProjectToLogits: input column 'State' was not found");
        StringAssert.Contains(error.Message, "'Hidden'");
    }

    [TestMethod]
    public void FitRejectsAWrongItemType()
    {
        using var head = new DisposableHead();
        var data = Ml.Data.LoadFromEnumerable([new DoubleHiddenRow()]);

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ml.Transforms.ProjectToLogits("Logits", "Hidden", head.Weight, head.Bias).Fit(data));

        StringAssert.Contains(error.Message, "'Hidden' must be Vector<Single, 8>, but its item type is Double");
    }

    [TestMethod]
    public void FitRejectsAScalarColumn()
    {
        var data = Ml.Data.LoadFromEnumerable([new ScalarHiddenRow()]);

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ml.Transforms.ScaleTemperature("Scaled", "Hidden", 0.5f).Fit(data));

        StringAssert.Contains(error.Message, "ScaleTemperature: input column 'Hidden' must be Vector<Single> of known size, but is the scalar Single");
    }

    [TestMethod]
    public void FitRejectsAVariableSizeVector()
    {
        var data = Ml.Data.LoadFromEnumerable([new VariableHiddenRow()]);

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ml.Transforms.KeepTopK("TopK", "Hidden", 2).Fit(data));

        StringAssert.Contains(error.Message, "variable size");
    }

    [TestMethod]
    public void FitNamesTheExpectedAndActualVectorSize()
    {
        using var head = new DisposableHead();
        var data = Ml.Data.LoadFromEnumerable([new ShortHiddenRow()]);

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ml.Transforms.ProjectToLogits("Logits", "Hidden", head.Weight, head.Bias).Fit(data));

        StringAssert.Contains(error.Message, "'Hidden' must have 8 items (Vector<Single, 8>), but has 4 items");
    }

    [TestMethod]
    public void TransformAndGetOutputSchemaRejectADifferentSizeThanFitted()
    {
        var model = Ml.Transforms.NormalizeToProbabilities("P", "Hidden").Fit(Ml.Data.LoadFromEnumerable(Rows(1)));
        var shorter = Ml.Data.LoadFromEnumerable([new ShortHiddenRow()]);

        var onTransform = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Transform(shorter));
        var onSchema = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.GetOutputSchema(shorter.Schema));

        StringAssert.Contains(onTransform.Message, "must have 8 items (Vector<Single, 8>), but has 4 items");
        Assert.AreEqual(onTransform.Message, onSchema.Message);
    }

    [TestMethod]
    public void CreatePredictionEngineRejectsAWrongSize()
    {
        using var head = new DisposableHead();
        var model = FullPipeline(Ml, head.Weight, head.Bias).Fit(Ml.Data.LoadFromEnumerable(Rows(1)));

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ml.Model.CreatePredictionEngine<ShortHiddenRow, HeadPrediction>(model));

        StringAssert.Contains(error.Message, "ProjectToLogits: input column 'Hidden' must have 8 items (Vector<Single, 8>), but has 4 items");
    }

    [TestMethod]
    public void EstimatorShapeAddsTheColumnsAndRejectsMissingOrScalarInputs()
    {
        using var head = new DisposableHead();
        var vectorShape = SchemaShapes.Append(new SchemaShape([]), [new StageOutputColumn("Hidden", StageOutputKind.Vector, HiddenSize)]);
        var scalarShape = SchemaShapes.Append(new SchemaShape([]), [new StageOutputColumn("Hidden", StageOutputKind.Probability, 0)]);

        var output = FullPipeline(Ml, head.Weight, head.Bias).GetOutputSchema(vectorShape);
        var missing = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ml.Transforms.KeepTopK("T", "Logits", 3).GetOutputSchema(vectorShape));
        var scalar = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ml.Transforms.KeepTopK("T", "Hidden", 3).GetOutputSchema(scalarShape));

        Assert.AreEqual("Hidden,Logits,Scaled,TopK,Probabilities,NextToken,NextTokenProbability", string.Join(",", output.Select(c => c.Name)));
        var token = output.Single(c => c.Name == "NextToken");
        Assert.AreEqual(SchemaShape.Column.VectorKind.Scalar, token.Kind);
        Assert.AreEqual(NumberDataViewType.UInt32, token.ItemType);
        Assert.AreEqual(SchemaShape.Column.VectorKind.Vector, output.Single(c => c.Name == "Logits").Kind);
        StringAssert.Contains(missing.Message, "input column 'Logits' was not found");
        StringAssert.Contains(scalar.Message, "is the scalar Single");
    }

    private sealed class DisposableHead : IDisposable
    {
        public DisposableHead() => (Weight, Bias) = Head();

        public TorchSharp.torch.Tensor Weight { get; }

        public TorchSharp.torch.Tensor Bias { get; }

        public void Dispose()
        {
            Weight.Dispose();
            Bias.Dispose();
        }
    }
}
