using LmHead.Extensions.Decoding;
using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.NormalizeToProbabilities)]
internal sealed class SavedSoftmaxFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() =>
        SavedVectorStage.Create(SavedContracts.NormalizeToProbabilities, parameters =>
        {
            // The softmax has no parameters; the saved table holds the placeholder [0].
            if (parameters is not [0f])
            {
                throw SavedParameterChecks.Invalid(SavedContracts.NormalizeToProbabilities, parameters, "should be the placeholder [0]");
            }

            var normalizer = new SoftmaxNormalizer();
            return (null, (input, output) => TensorRows.Normalize(normalizer, input, output));
        });
}
