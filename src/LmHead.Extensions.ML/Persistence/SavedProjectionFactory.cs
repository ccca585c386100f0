using LmHead.Extensions.Decoding;
using Microsoft.ML.Transforms;
using static TorchSharp.torch;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.ProjectToLogits)]
internal sealed class SavedProjectionFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() => SavedVectorStage.Create(parameters =>
    {
        int v = (int)parameters[0], d = (int)parameters[1];
        using var weight = tensor(parameters.AsSpan(3, v * d).ToArray(), [v, d]);
        using var bias = parameters[2] == 0 ? null : tensor(parameters.AsSpan(3 + (v * d), v).ToArray());
        var projector = new LogitsProjector(weight, bias);
        return (v, (input, output) => TensorRows.Apply(input, output, projector.Project));
    });
}
