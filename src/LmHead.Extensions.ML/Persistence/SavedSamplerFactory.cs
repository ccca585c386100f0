using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.SampleNextToken)]
internal sealed class SavedSamplerFactory : CustomMappingFactory<SavedSamplerInput, SavedTokenOutput>
{
    public override Action<SavedSamplerInput, SavedTokenOutput> GetMapping() => static (input, output) =>
        (output.TokenId, output.Probability) = NextTokenSamplingTransformer.Sample(input.Input, SavedSeed.Decode(SavedContracts.SampleNextToken, input.Parameters), input.StreamKey);
}
