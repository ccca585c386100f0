using LmHead.Extensions.Decoding;
using Microsoft.ML.Transforms;
using static TorchSharp.torch;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The contract names a saved model records. ML.NET finds the factory by this name when loading, so a name is never
/// changed or reused: a new saved format gets a new name (".v2") and the old factory stays.
/// </summary>
internal static class SavedContracts
{
    public const string ParameterKey = "LmHead.ParameterKey.v1";
    public const string ProjectToLogits = "LmHead.ProjectToLogits.v1";
    public const string ScaleTemperature = "LmHead.ScaleTemperature.v1";
    public const string KeepTopK = "LmHead.KeepTopK.v1";
    public const string NormalizeToProbabilities = "LmHead.NormalizeToProbabilities.v1";
    public const string SampleNextToken = "LmHead.SampleNextToken.v1";
    public const string SampleNextTokenSignedKey = "LmHead.SampleNextTokenSignedKey.v1";
    public const string FilterLogits = "LmHead.FilterLogits.v1";
    public const string ProjectionWeightRequest = "LmHead.ProjectionWeightRequest.v1";
    public const string ProjectToLogitsV2 = "LmHead.ProjectToLogits.v2";
}

[CustomMappingFactoryAttribute(SavedContracts.ParameterKey)]
internal sealed class SavedParameterKeyFactory : CustomMappingFactory<SavedKeyInput, SavedKeyOutput>
{
    public override Action<SavedKeyInput, SavedKeyOutput> GetMapping() => static (_, output) => output.Key = 0;
}

[CustomMappingFactoryAttribute(SavedContracts.ProjectToLogits)]
internal sealed class SavedProjectionFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() => SavedVectorStage.Create(parameters =>
    {
        int v = (int)parameters[0], d = (int)parameters[1];
        using var weight = tensor(parameters.AsSpan(3, v * d).ToArray(), [v, d]);
        using var bias = parameters[2] == 0 ? null : tensor(parameters.AsSpan(3 + (v * d), v).ToArray());
        var projector = new LogitsProjector(weight, bias);
        return (v, (input, output) => TensorRows.Apply(input, output, projector.Project));
    });
}

[CustomMappingFactoryAttribute(SavedContracts.ScaleTemperature)]
internal sealed class SavedTemperatureFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() =>
        SavedVectorStage.Create(parameters =>
        {
            var scaler = new TemperatureScaler(parameters[0]);
            return (null, (input, output) => TensorRows.Scale(scaler, input, output));
        });
}

[CustomMappingFactoryAttribute(SavedContracts.KeepTopK)]
internal sealed class SavedTopKFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() =>
        SavedVectorStage.Create(parameters =>
        {
            var filter = new TopKFilter((int)parameters[0]);
            return (null, (input, output) => TensorRows.KeepTop(filter, input, output));
        });
}

[CustomMappingFactoryAttribute(SavedContracts.FilterLogits)]
internal sealed class SavedLogitsFilterFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() =>
        SavedVectorStage.Create(parameters =>
        {
            var filter = LogitsFilter.Create(parameters);
            return (null, (input, output) => TensorRows.Apply(input, output, filter.Apply));
        });
}

[CustomMappingFactoryAttribute(SavedContracts.NormalizeToProbabilities)]
internal sealed class SavedSoftmaxFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() =>
        SavedVectorStage.Create(_ =>
        {
            var normalizer = new SoftmaxNormalizer();
            return (null, (input, output) => TensorRows.Normalize(normalizer, input, output));
        });
}

[CustomMappingFactoryAttribute(SavedContracts.SampleNextToken)]
internal sealed class SavedSamplerFactory : CustomMappingFactory<SavedSamplerInput, SavedTokenOutput>
{
    public override Action<SavedSamplerInput, SavedTokenOutput> GetMapping() => static (input, output) =>
        (output.TokenId, output.Probability) = NextTokenSamplingTransformer.Sample(input.Input, SavedSeed.Decode(input.Parameters), input.StreamKey);
}

// ML.NET will not convert signed integers to unsigned ones, so a signed stream-key column gets its own contract.
[CustomMappingFactoryAttribute(SavedContracts.SampleNextTokenSignedKey)]
internal sealed class SavedSignedKeySamplerFactory : CustomMappingFactory<SavedSignedKeySamplerInput, SavedTokenOutput>
{
    public override Action<SavedSignedKeySamplerInput, SavedTokenOutput> GetMapping() => static (input, output) =>
        (output.TokenId, output.Probability) = NextTokenSamplingTransformer.Sample(
            input.Input, SavedSeed.Decode(input.Parameters), unchecked((ulong)input.StreamKey));
}

/// <summary>A 64-bit seed stored as four floats holding 16 bits each (exact in a float).</summary>
internal static class SavedSeed
{
    public static float[] Encode(ulong seed) => [seed & 0xFFFF, (seed >> 16) & 0xFFFF, (seed >> 32) & 0xFFFF, seed >> 48];

    public static ulong Decode(float[] p) => (ulong)p[0] | ((ulong)p[1] << 16) | ((ulong)p[2] << 32) | ((ulong)p[3] << 48);
}

/// <summary>
/// Builds a saved vector stage's mapping. The stage is rebuilt once, from the first row's parameters (every row carries
/// the same ones), and shared by all cursors of the loaded transformer.
/// </summary>
internal static class SavedVectorStage
{
    public static Action<SavedStageInput, SavedVectorOutput> Create(Func<float[], (int? OutputSize, Action<float[], float[]> Apply)> restore)
    {
        var restored = new Restored(restore);
        return (input, output) =>
        {
            var (size, apply) = restored.Get(input.Parameters);
            var values = new float[size ?? input.Input.Length];
            apply(input.Input, values);
            output.Output = values;
        };
    }

    private sealed class Restored(Func<float[], (int? OutputSize, Action<float[], float[]> Apply)> restore)
    {
        private readonly Lock _gate = new();
        private (int? OutputSize, Action<float[], float[]> Apply)? _stage;

        public (int? OutputSize, Action<float[], float[]> Apply) Get(float[] parameters)
        {
            lock (_gate)
            {
                _stage ??= restore(parameters);
                return _stage.Value;
            }
        }
    }
}
