using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

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
