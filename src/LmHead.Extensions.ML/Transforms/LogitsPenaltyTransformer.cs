using LmHead.Extensions.Decoding;
using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Adds a column of logits penalised by a <see cref="RepetitionPenalty"/> or a <see cref="FrequencyPresencePenalty"/>,
/// counting the token ids in each row's history column.
/// </summary>
public sealed class LogitsPenaltyTransformer : LmHeadTransformer
{
    private readonly LogitsPenalty _penalty;

    internal LogitsPenaltyTransformer(string outputColumnName, string inputColumnName, int inputSize, LogitsPenalty penalty)
        : base(inputColumnName, inputSize)
    {
        _penalty = penalty;
        OutputColumnName = outputColumnName;
        OutputColumns = [new StageOutputColumn(outputColumnName, StageOutputKind.Vector, inputSize)];
    }

    /// <summary>The name of the penalised-logits column.</summary>
    public string OutputColumnName { get; }

    /// <summary>The penalty stage this transformer applies.</summary>
    public ITokenHistoryStage Stage => _penalty.Stage;

    /// <summary>The column of token ids the penalty counts.</summary>
    public string HistoryColumn => _penalty.HistoryColumnName;

    internal override string? HistoryColumnName => _penalty.HistoryColumnName;

    internal override string StageName => _penalty.StageName;

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output) =>
        Compute(input, rowKey, [], output);

    internal override void Compute(float[] input, ulong rowKey, ReadOnlySpan<float> history, StageRowValues output)
    {
        var tokens = _penalty.ToHistory(history);
        TensorRows.Apply(input, output.Vector, logits => _penalty.Stage.Apply(logits, tokens));
    }

    internal override float[] SavedParameters() => throw new NotSupportedException($"{StageName} cannot be saved yet.");

    internal override IEstimator<ITransformer> CreateSavedMapping(MLContext ml) => throw new NotSupportedException($"{StageName} cannot be saved yet.");
}
