using LmHead.Extensions.Decoding;
using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

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
