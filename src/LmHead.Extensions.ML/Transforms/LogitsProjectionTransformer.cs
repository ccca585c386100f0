using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Adds a logits column <c>Vector&lt;Single, V&gt;</c> computed from a hidden-state column <c>Vector&lt;Single, d&gt;</c>
/// with a <see cref="LogitsProjector"/>: <c>logits = hidden · Wᵀ + b</c>.
/// </summary>
/// <remarks>
/// The transformer shares its estimator's handles to the weight and bias (no copy); the garbage collector releases
/// them. It is deliberately not <see cref="IDisposable"/>: ML.NET disposes a model's disposable transformers when a
/// <c>PredictionEngine</c> created from it is disposed, which would break the model for every later use.
/// </remarks>
public sealed class LogitsProjectionTransformer : LmHeadTransformer
{
    private readonly LogitsProjector _projector;

    internal LogitsProjectionTransformer(string outputColumnName, string inputColumnName, LogitsProjector projector)
        : base(inputColumnName, projector.HiddenSize)
    {
        _projector = projector;
        OutputColumnName = outputColumnName;
        OutputColumns = [new StageOutputColumn(outputColumnName, StageOutputKind.Vector, projector.VocabularySize)];
    }

    /// <summary>The name of the logits column.</summary>
    public string OutputColumnName { get; }

    /// <summary>The vocabulary size V (the logits' length).</summary>
    public int VocabularySize => _projector.VocabularySize;

    /// <summary>The hidden size d (the input's length).</summary>
    public int HiddenSize => _projector.HiddenSize;

    /// <summary>The projection this transformer applies (shares the estimator's weight and bias).</summary>
    internal LogitsProjector Projector => _projector;

    internal override string StageName => "ProjectToLogits";

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output) =>
        TensorRows.Apply(input, output.Vector, hidden => _projector.Project(hidden));

    /// <summary>Layout: V, d, has-bias (0 or 1), the weight row by row, then the bias if any.</summary>
    internal override float[] SavedParameters()
    {
        using var scope = NewDisposeScope();
        var weight = _projector.Weight.to_type(ScalarType.Float32).cpu().flatten();
        var bias = _projector.Bias?.to_type(ScalarType.Float32).cpu();
        int v = VocabularySize, d = HiddenSize;
        var parameters = new float[3 + ((long)v * d) + (bias is null ? 0 : v)];
        parameters[0] = v;
        parameters[1] = d;
        parameters[2] = bias is null ? 0 : 1;
        weight.data<float>().CopyTo(parameters, 3);
        bias?.data<float>().CopyTo(parameters, 3 + (v * d));
        return parameters;
    }

    internal override IEstimator<ITransformer> CreateSavedMapping(MLContext ml) =>
        ml.Transforms.CustomMapping(new SavedProjectionFactory().GetMapping(), SavedContracts.ProjectToLogits);
}
