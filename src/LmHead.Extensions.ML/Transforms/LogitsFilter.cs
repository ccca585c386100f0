using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The logits-to-logits stages beyond temperature and top-k that the ML.NET layer offers (top-p, min-p, logit bias),
/// described by a kind and a float parameter list so one transformer and one saved contract serve them all.
/// </summary>
internal static class LogitsFilter
{
    public const float TopPKind = 1, MinPKind = 2, LogitBiasKind = 3;

    public static float[] TopP(float p, int minTokensToKeep) => [TopPKind, p, minTokensToKeep];

    public static float[] MinP(float minP) => [MinPKind, minP];

    /// <summary>Bias as [kind, id0, bias0, id1, bias1, ...]; token ids up to 2^24 are exact in a float.</summary>
    public static float[] LogitBias(IReadOnlyDictionary<int, float> bias) =>
        [LogitBiasKind, .. bias.OrderBy(p => p.Key).SelectMany(p => new[] { (float)p.Key, p.Value })];

    /// <summary>Rebuilds the stage a parameter list describes (validating it again).</summary>
    public static ILogitsStage Create(float[] parameters) => parameters[0] switch
    {
        TopPKind => new TopPFilter(parameters[1], (int)parameters[2]),
        MinPKind => new MinPFilter(parameters[1]),
        LogitBiasKind => new LogitBias(Enumerable.Range(0, (parameters.Length - 1) / 2)
            .ToDictionary(i => (int)parameters[1 + (2 * i)], i => parameters[2 + (2 * i)])),
        _ => throw new InvalidOperationException($"Unknown saved logits filter kind {parameters[0]}."),
    };

    public static string StageName(float[] parameters) => parameters[0] switch
    {
        TopPKind => "KeepTopP",
        MinPKind => "KeepMinP",
        _ => "AddLogitBias",
    };
}
