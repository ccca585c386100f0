using LmHead.Extensions.Decoding;
using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.KeepTopK)]
internal sealed class SavedTopKFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() =>
        SavedVectorStage.Create(SavedContracts.KeepTopK, parameters =>
        {
            SavedParameterChecks.RequireLength(SavedContracts.KeepTopK, parameters, 1);
            var filter = new TopKFilter(SavedParameterChecks.RequireInteger(SavedContracts.KeepTopK, parameters, 0, "k", 1, int.MaxValue));
            return (null, (input, output) => TensorRows.KeepTop(filter, input, output));
        });
}
