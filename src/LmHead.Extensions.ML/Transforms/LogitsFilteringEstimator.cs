namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Estimator for <see cref="LogitsFilteringTransformer"/>; created by <c>TransformsCatalog.KeepTopP</c>,
/// <c>KeepMinP</c> and <c>AddLogitBias</c>.
/// </summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input column | <c>Vector&lt;Single, V&gt;</c> (logits) |
/// | Output column | <c>Vector&lt;Single, V&gt;</c> (filtered or biased logits; removed tokens at -infinity) |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes |
/// </remarks>
public sealed class LogitsFilteringEstimator : LmHeadEstimator<LogitsFilteringTransformer>
{
    private readonly float[] _parameters;

    internal LogitsFilteringEstimator(string outputColumnName, string inputColumnName, float[] parameters)
        : base(outputColumnName, inputColumnName)
    {
        _ = LogitsFilter.Create(parameters); // validates now, not at Fit
        _parameters = parameters;
    }

    internal override string StageName => LogitsFilter.StageName(_parameters);

    internal override IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize) =>
        [new StageOutputColumn(OutputColumnName, StageOutputKind.Vector, inputSize)];

    internal override LogitsFilteringTransformer Create(int inputSize, Microsoft.ML.DataViewSchema? inputSchema) =>
        new(OutputColumnName, InputColumnName, inputSize, _parameters);
}
