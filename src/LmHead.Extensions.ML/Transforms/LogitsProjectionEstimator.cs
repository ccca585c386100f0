using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Estimator for <see cref="LogitsProjectionTransformer"/>; created by <c>TransformsCatalog.ProjectToLogits</c>.
/// </summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input column | <c>Vector&lt;Single, d&gt;</c> (the last token's hidden state) |
/// | Output column | <c>Vector&lt;Single, V&gt;</c> (logits) |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes |
/// </remarks>
public sealed class LogitsProjectionEstimator : LmHeadEstimator<LogitsProjectionTransformer>
{
    private readonly LogitsProjector _projector;

    internal LogitsProjectionEstimator(string outputColumnName, string inputColumnName, LogitsProjector projector)
        : base(outputColumnName, inputColumnName) => _projector = projector;

    internal override IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize) =>
        [new StageOutputColumn(OutputColumnName, StageOutputKind.Vector, _projector.VocabularySize)];

    internal override string StageName => "ProjectToLogits";

    internal override int? RequiredInputSize => _projector.HiddenSize;

    internal override LogitsProjectionTransformer Create(int inputSize, Microsoft.ML.DataViewSchema? inputSchema) => new(OutputColumnName, InputColumnName, _projector);
}
