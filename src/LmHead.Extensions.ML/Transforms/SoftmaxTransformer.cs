using LmHead.Extensions.Decoding;

using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Adds a probabilities column computed from logits with a <see cref="SoftmaxNormalizer"/>.</summary>
public sealed class SoftmaxTransformer : LmHeadTransformer
{
    private readonly SoftmaxNormalizer _normalizer = new();

    internal SoftmaxTransformer(string outputColumnName, string inputColumnName, int inputSize)
        : base(inputColumnName, inputSize)
    {
        OutputColumnName = outputColumnName;
        OutputColumns = [new StageOutputColumn(outputColumnName, StageOutputKind.Vector, inputSize)];
    }

    /// <summary>The name of the probabilities column.</summary>
    public string OutputColumnName { get; }

    internal override string StageName => "NormalizeToProbabilities";

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output) =>
        TensorRows.Normalize(_normalizer, input, output.Vector);

    internal override float[] SavedParameters() => [];

    internal override IEstimator<ITransformer> CreateSavedMapping(MLContext ml) =>
        ml.Transforms.CustomMapping(new SavedSoftmaxFactory().GetMapping(), SavedContracts.NormalizeToProbabilities);
}
