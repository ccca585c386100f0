using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Estimator for <see cref="TopKFilteringTransformer"/>; created by <c>TransformsCatalog.KeepTopK</c>.</summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input column | <c>Vector&lt;Single, V&gt;</c> (logits) |
/// | Output column | <c>Vector&lt;Single, V&gt;</c> (the k highest logits, the rest -infinity; ties keep lower ids) |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes |
/// </remarks>
public sealed class TopKFilteringEstimator : LmHeadEstimator<TopKFilteringTransformer>
{
    internal TopKFilteringEstimator(string outputColumnName, string inputColumnName, int k)
        : base(outputColumnName, inputColumnName)
    {
        TopKFilter.Validate(k);
        K = k;
    }

    /// <summary>How many logits each row keeps.</summary>
    public int K { get; }

    internal override IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize) =>
        [new StageOutputColumn(OutputColumnName, StageOutputKind.Vector, inputSize)];

    internal override string StageName => "KeepTopK";

    internal override TopKFilteringTransformer Create(int inputSize, Microsoft.ML.DataViewSchema? inputSchema) => new(OutputColumnName, InputColumnName, inputSize, K);
}
