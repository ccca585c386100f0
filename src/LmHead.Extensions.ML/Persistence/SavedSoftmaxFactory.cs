using LmHead.Extensions.Decoding;
using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

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
