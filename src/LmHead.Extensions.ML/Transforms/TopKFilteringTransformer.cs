using LmHead.Extensions.Decoding;

using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Adds a column of logits where all but the k highest are -infinity, computed with a <see cref="TopKFilter"/>.</summary>
public sealed class TopKFilteringTransformer : LmHeadTransformer
{
    private readonly TopKFilter _filter;

    internal TopKFilteringTransformer(string outputColumnName, string inputColumnName, int inputSize, int k)
        : base(inputColumnName, inputSize)
    {
        _filter = new TopKFilter(k);
        OutputColumnName = outputColumnName;
        OutputColumns = [new StageOutputColumn(outputColumnName, StageOutputKind.Vector, inputSize)];
    }

    /// <summary>The name of the filtered-logits column.</summary>
    public string OutputColumnName { get; }

    /// <summary>How many logits each row keeps.</summary>
    public int K => _filter.K;

    internal override string StageName => "KeepTopK";

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output) =>
        TensorRows.KeepTop(_filter, input, output.Vector);

    internal override float[] SavedParameters() => [K];

    internal override IEstimator<ITransformer> CreateSavedMapping(MLContext ml) =>
        ml.Transforms.CustomMapping(new SavedTopKFactory().GetMapping(), SavedContracts.KeepTopK);
}
