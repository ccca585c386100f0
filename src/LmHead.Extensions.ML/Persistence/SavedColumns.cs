namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The fixed column names of the saved form. A loaded <c>CustomMapping</c> takes its columns from these attributes
/// (ML.NET does not save schema definitions), so they are part of the file format: never rename them.
/// </summary>
internal static class SavedColumns
{
    public const string Input = "LmHead.Input";
    public const string ParameterKey = "LmHead.ParameterKey";
    public const string Parameters = "LmHead.Parameters";
    public const string StreamKey = "LmHead.StreamKey";
    public const string Output = "LmHead.Output";
    public const string TokenId = "LmHead.TokenId";
    public const string Probability = "LmHead.Probability";
    public const string Request = "LmHead.Request";
    public const string Weights = "LmHead.Weights";

    /// <summary>The request column of 2^<paramref name="bit"/> slots.</summary>
    public static string RequestBit(int bit) => $"LmHead.Request.{bit}";
}
