namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Estimator for <see cref="LogitsPenaltyTransformer"/>; created by <c>TransformsCatalog.ApplyRepetitionPenalty</c> and
/// <c>ApplyFrequencyPresencePenalty</c>.
/// </summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input columns | <c>Vector&lt;Single, V&gt;</c> (logits) and <c>Vector&lt;Single&gt;</c> of any length (the row's token ids) |
/// | Output column | <c>Vector&lt;Single, V&gt;</c> (penalised logits) |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes |
/// | Saveable | Not yet (<c>Model.Save</c> throws <see cref="NotSupportedException"/>) |
/// </remarks>
public sealed class LogitsPenaltyEstimator : LmHeadEstimator<LogitsPenaltyTransformer>
{
    private readonly LogitsPenalty _penalty;

    internal LogitsPenaltyEstimator(string outputColumnName, string inputColumnName, LogitsPenalty penalty)
        : base(outputColumnName, inputColumnName)
    {
        _penalty = penalty;
    }

    /// <summary>The column of token ids the penalty counts.</summary>
    public string HistoryColumnName => _penalty.HistoryColumnName;

    internal override string StageName => _penalty.StageName;

    internal override IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize) =>
        [new StageOutputColumn(OutputColumnName, StageOutputKind.Vector, inputSize)];

    internal override LogitsPenaltyTransformer Create(int inputSize, Microsoft.ML.DataViewSchema? inputSchema) =>
        new(OutputColumnName, InputColumnName, inputSize, _penalty);
}
