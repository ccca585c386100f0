using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.MachineLearning;

/// <summary>Estimator for <see cref="TemperatureScalingTransformer"/>; created by <c>TransformsCatalog.ScaleTemperature</c>.</summary>
/// <remarks>
/// | Characteristic | Value |
/// | --- | --- |
/// | Input column | <c>Vector&lt;Single, V&gt;</c> (logits) |
/// | Output column | <c>Vector&lt;Single, V&gt;</c> (logits / T; T = 0 keeps only the first maximum) |
/// | Does Fit look at data? | No, only the schema |
/// | Deterministic | Yes |
/// </remarks>
public sealed class TemperatureScalingEstimator : LmHeadEstimator<TemperatureScalingTransformer>
{
    internal TemperatureScalingEstimator(string outputColumnName, string inputColumnName, float temperature)
        : base(outputColumnName, inputColumnName)
    {
        TemperatureScaler.Validate(temperature);
        Temperature = temperature;
    }

    /// <summary>The temperature T.</summary>
    public float Temperature { get; }

    internal override IReadOnlyList<StageOutputColumn> DescribeOutputs(int inputSize) =>
        [new StageOutputColumn(OutputColumnName, StageOutputKind.Vector, inputSize)];

    internal override string StageName => "ScaleTemperature";

    internal override TemperatureScalingTransformer Create(int inputSize, Microsoft.ML.DataViewSchema? inputSchema) => new(OutputColumnName, InputColumnName, inputSize, Temperature);
}
