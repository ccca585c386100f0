using LmHead.Extensions.Decoding;
using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Adds a column of logits processed by a <see cref="TopPFilter"/>, <see cref="MinPFilter"/> or <see cref="LogitBias"/>.
/// </summary>
public sealed class LogitsFilteringTransformer : LmHeadTransformer
{
    private readonly float[] _parameters;

    internal LogitsFilteringTransformer(string outputColumnName, string inputColumnName, int inputSize, float[] parameters)
        : base(inputColumnName, inputSize)
    {
        _parameters = parameters;
        Stage = LogitsFilter.Create(parameters);
        OutputColumnName = outputColumnName;
        OutputColumns = [new StageOutputColumn(outputColumnName, StageOutputKind.Vector, inputSize)];
    }

    /// <summary>The name of the output column.</summary>
    public string OutputColumnName { get; }

    /// <summary>The stage this transformer applies to every row.</summary>
    public ILogitsStage Stage { get; }

    internal override string StageName => LogitsFilter.StageName(_parameters);

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output) =>
        TensorRows.Apply(input, output.Vector, Stage.Apply);

    internal override float[] SavedParameters() => _parameters;

    internal override IEstimator<ITransformer> CreateSavedMapping(MLContext ml) =>
        ml.Transforms.CustomMapping(new SavedLogitsFilterFactory().GetMapping(), SavedContracts.FilterLogits);
}
