using LmHead.Extensions.Decoding;
using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Estimator for <see cref="LogitsStageTransformer"/>; created by <c>TransformsCatalog.ScaleTemperature</c>,
/// <c>KeepTopK</c>, <c>KeepTopP</c>, <c>KeepMinP</c>, <c>AddLogitBias</c>, <c>ApplyRepetitionPenalty</c>,
/// <c>ApplyFrequencyPresencePenalty</c> and <c>NormalizeToProbabilities</c>.
/// </summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input column | <c>Vector&lt;Single, V&gt;</c> (logits; -infinity marks a removed token); the penalties also read a <c>Vector&lt;Single&gt;</c> history column of token ids, any length |
/// | Output column | <c>Vector&lt;Single, V&gt;</c>: the stage's logits, or probabilities summing to 1 for <c>NormalizeToProbabilities</c> |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes |
/// | Saveable | Yes, except the penalties and the output constraint (<c>Model.Save</c> throws <see cref="NotSupportedException"/>) |
/// </remarks>
public sealed class LogitsStageEstimator : LmHeadEstimator<LogitsStageTransformer>
{
    private readonly LogitsStageDescription _description;

    internal LogitsStageEstimator(string outputColumnName, string inputColumnName, LogitsStageDescription description)
        : base(outputColumnName, inputColumnName) => _description = description;

    /// <summary>
    /// The tensor stage the transformers apply: a <see cref="TemperatureScaler"/>, <see cref="TopKFilter"/>,
    /// <see cref="TopPFilter"/>, <see cref="MinPFilter"/>, <see cref="LogitBias"/>, <see cref="RepetitionPenalty"/>,
    /// <see cref="FrequencyPresencePenalty"/>, or a softmax (applying it returns probabilities).
    /// </summary>
    public ILogitsStage Stage => _description.Stage;

    /// <summary>The column of token ids a penalty counts, or <see langword="null"/> for the other stages.</summary>
    public string? HistoryColumnName => _description.HistoryColumnName;

    internal override string StageName => _description.StageName;

    internal override IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize) =>
        [new StageOutputColumn(OutputColumnName, StageOutputKind.Vector, inputSize)];

    internal override LogitsStageTransformer Create(int inputSize, DataViewSchema? inputSchema) =>
        new(OutputColumnName, InputColumnName, inputSize, _description);
}
