namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The contract names a saved model records. ML.NET finds the factory by this name when loading, so a name is never
/// changed or reused: a new saved format gets a new name (".v2") and the old factory stays.
/// </summary>
internal static class SavedContracts
{
    public const string ParameterKey = "LmHead.ParameterKey.v1";
    public const string ProjectToLogits = "LmHead.ProjectToLogits.v1";
    public const string ScaleTemperature = "LmHead.ScaleTemperature.v1";
    public const string KeepTopK = "LmHead.KeepTopK.v1";
    public const string NormalizeToProbabilities = "LmHead.NormalizeToProbabilities.v1";
    public const string SampleNextToken = "LmHead.SampleNextToken.v1";
    public const string SampleNextTokenSignedKey = "LmHead.SampleNextTokenSignedKey.v1";
    public const string FilterLogits = "LmHead.FilterLogits.v1";
    public const string ProjectionWeightRequest = "LmHead.ProjectionWeightRequest.v1";
    public const string ProjectToLogitsV2 = "LmHead.ProjectToLogits.v2";
}
