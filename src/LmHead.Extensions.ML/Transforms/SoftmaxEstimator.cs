namespace LmHead.Extensions.MachineLearning;

/// <summary>Estimator for <see cref="SoftmaxTransformer"/>; created by <c>TransformsCatalog.NormalizeToProbabilities</c>.</summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input column | <c>Vector&lt;Single, V&gt;</c> (logits; -infinity marks a removed token) |
/// | Output column | <c>Vector&lt;Single, V&gt;</c> (probabilities summing to 1) |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes |
/// </remarks>
public sealed class SoftmaxEstimator : LmHeadEstimator<SoftmaxTransformer>
{
    internal SoftmaxEstimator(string outputColumnName, string inputColumnName)
        : base(outputColumnName, inputColumnName)
    {
    }

    internal override IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize) =>
        [new StageOutputColumn(OutputColumnName, StageOutputKind.Vector, inputSize)];

    internal override string StageName => "NormalizeToProbabilities";

    internal override SoftmaxTransformer Create(int inputSize, Microsoft.ML.DataViewSchema? inputSchema) => new(OutputColumnName, InputColumnName, inputSize);
}
