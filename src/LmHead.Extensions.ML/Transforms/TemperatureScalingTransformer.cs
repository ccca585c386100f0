using LmHead.Extensions.Decoding;

using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Adds a column of logits divided by a temperature, computed with a <see cref="TemperatureScaler"/>.</summary>
public sealed class TemperatureScalingTransformer : LmHeadTransformer
{
    private readonly TemperatureScaler _scaler;

    internal TemperatureScalingTransformer(string outputColumnName, string inputColumnName, int inputSize, float temperature)
        : base(inputColumnName, inputSize)
    {
        _scaler = new TemperatureScaler(temperature);
        OutputColumnName = outputColumnName;
        OutputColumns = [new StageOutputColumn(outputColumnName, StageOutputKind.Vector, inputSize)];
    }

    /// <summary>The name of the scaled-logits column.</summary>
    public string OutputColumnName { get; }

    /// <summary>The temperature T (0 means greedy).</summary>
    public float Temperature => _scaler.Temperature;

    internal override string StageName => "ScaleTemperature";

    internal override IReadOnlyList<StageOutputColumn> OutputColumns { get; }

    internal override void Compute(float[] input, ulong rowKey, StageRowValues output) =>
        TensorRows.Scale(_scaler, input, output.Vector);

    internal override float[] SavedParameters() => [Temperature];

    internal override IEstimator<ITransformer> CreateSavedMapping(MLContext ml) =>
        ml.Transforms.CustomMapping(new SavedTemperatureFactory().GetMapping(), SavedContracts.ScaleTemperature);
}
