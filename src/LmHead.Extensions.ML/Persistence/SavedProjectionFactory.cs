using LmHead.Extensions.Decoding;
using Microsoft.ML.Transforms;
using static TorchSharp.torch;

namespace LmHead.Extensions.MachineLearning;

[CustomMappingFactoryAttribute(SavedContracts.ProjectToLogits)]
internal sealed class SavedProjectionFactory : CustomMappingFactory<SavedStageInput, SavedVectorOutput>
{
    public override Action<SavedStageInput, SavedVectorOutput> GetMapping() => SavedVectorStage.Create(SavedContracts.ProjectToLogits, parameters =>
    {
        const string Contract = SavedContracts.ProjectToLogits;
        if (parameters.Length < 3)
        {
            throw SavedParameterChecks.Invalid(Contract, parameters, "are fewer than the 3 header values (V, d, has-bias)");
        }

        int v = SavedParameterChecks.RequireInteger(Contract, parameters, 0, "V", 1, int.MaxValue);
        int d = SavedParameterChecks.RequireInteger(Contract, parameters, 1, "d", 1, int.MaxValue);
        SavedParameterChecks.RequireInteger(Contract, parameters, 2, "has-bias", 0, 1);
        long expected = 3 + ((long)v * d) + (parameters[2] == 0 ? 0 : v);
        if (parameters.Length != expected)
        {
            throw SavedParameterChecks.Invalid(Contract, parameters, $"are {parameters.Length} values, but V = {v}, d = {d} and the bias need {expected}");
        }

        using var weight = tensor(parameters.AsSpan(3, v * d).ToArray(), [v, d]);
        using var bias = parameters[2] == 0 ? null : tensor(parameters.AsSpan(3 + (v * d), v).ToArray());
        var projector = new LogitsProjector(weight, bias);
        return (v, (input, output) => TensorRows.Apply(input, output, projector.Project));
    });
}
