using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.FilterLogits)]
internal sealed class SavedLogitsFilterFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() =>
        SavedVectorStage.Create(SavedContracts.FilterLogits, parameters =>
        {
            var filter = LogitsFilter.Restore(parameters);
            return (null, (input, output) => TensorRows.Apply(input, output, filter.Apply));
        });
}
