using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

// ML.NET will not convert signed integers to unsigned ones, so a signed stream-key column gets its own contract.
[CustomMappingFactoryAttribute(SavedContracts.SampleNextTokenSignedKey)]
internal sealed class SavedSignedKeySamplerFactory : CustomMappingFactory<SavedSignedKeySamplerInput, SavedTokenOutput>
{
    public override Action<SavedSignedKeySamplerInput, SavedTokenOutput> GetMapping() => static (input, output) =>
        (output.TokenId, output.Probability) = NextTokenSamplingTransformer.Sample(
            input.Input, SavedSeed.Decode(SavedContracts.SampleNextTokenSignedKey, input.Parameters), unchecked((ulong)input.StreamKey));
}
