using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>How a stage is saved.</summary>
internal static class SavedForm
{
    public static void Save(LmHeadTransformer stage, ModelSaveContext ctx) =>
        throw new NotSupportedException($"Saving {stage.StageName} is not supported yet.");
}
