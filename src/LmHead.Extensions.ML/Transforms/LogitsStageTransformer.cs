using LmHead.Extensions.Decoding;
using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Adds a <c>Vector&lt;Single, V&gt;</c> column computed from a logits column by one tensor stage (<see cref="Stage"/>):
/// temperature, top-k, top-p, min-p, logit bias, a penalty counting the token ids in each row's history column, or a
/// softmax.
/// </summary>
public sealed class LogitsStageTransformer : LmHeadTransformer
{
    private readonly LogitsStageDescription _description;

    internal LogitsStageTransformer(string outputColumnName, string inputColumnName, int inputSize, LogitsStageDescription description)
        : base(inputColumnName, inputSize)
    {
        _description = description;
        OutputColumnName = outputColumnName;
        OutputColumns = [new StageOutputColumn(outputColumnName, StageOutputKind.Vector, inputSize)];
    }

    /// <summary>The name of the output column.</summary>
    public string OutputColumnName { get; }

    /// <summary>
    /// The tensor stage this transformer applies to every row, for example a <see cref="TemperatureScaler"/> (read its
    /// <see cref="TemperatureScaler.Temperature"/>) or a <see cref="TopKFilter"/> (its <see cref="TopKFilter.K"/>).
    /// </summary>
    public ILogitsStage Stage => _description.Stage;

    /// <summary>The column of token ids a penalty counts, or <see langword="null"/> for the other stages.</summary>
    public string? HistoryColumn => _description.HistoryColumnName;

    internal override string? HistoryColumnName => _description.HistoryColumnName;

    internal override string StageName => _description.StageName;

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output) =>
        _description.ComputeRow(input, [], output.Vector);

    internal override void Compute(float[] input, ulong rowKey, ReadOnlySpan<float> history, StageRowValues output) =>
        _description.ComputeRow(input, history, output.Vector);

    internal override float[] SavedParameters() =>
        _description.SavedParameters ?? throw new NotSupportedException($"{StageName} cannot be saved yet.");

    internal override IEstimator<ITransformer> CreateSavedMapping(MLContext ml) =>
        _description.CreateSavedMapping?.Invoke(ml) ?? throw new NotSupportedException($"{StageName} cannot be saved yet.");
}
