using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.ParameterKey)]
internal sealed class SavedParameterKeyFactory : CustomMappingFactory<SavedKeyInput, SavedKeyOutput>
{
    public override Action<SavedKeyInput, SavedKeyOutput> GetMapping() => static (_, output) => output.Key = 0;
}
