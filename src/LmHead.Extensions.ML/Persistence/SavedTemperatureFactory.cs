using LmHead.Extensions.Decoding;
using Microsoft.ML.Transforms;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.ScaleTemperature)]
internal sealed class SavedTemperatureFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() =>
        SavedVectorStage.Create(SavedContracts.ScaleTemperature, parameters =>
        {
            SavedParameterChecks.RequireLength(SavedContracts.ScaleTemperature, parameters, 1);
            var scaler = new TemperatureScaler(parameters[0]);
            return (null, (input, output) => TensorRows.Scale(scaler, input, output));
        });
}
