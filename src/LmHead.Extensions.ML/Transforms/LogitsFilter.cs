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

    /// <summary>Rebuilds the stage a loaded model's parameter list describes, checking its layout first (the list is data in the zip).</summary>
    public static ILogitsStage Restore(float[] parameters)
    {
        const string Contract = SavedContracts.FilterLogits;
        if (parameters.Length == 0)
        {
            throw SavedParameterChecks.Invalid(Contract, parameters, "are empty, expected a filter kind first");
        }

        switch (parameters[0])
        {
            case TopPKind:
                SavedParameterChecks.RequireLength(Contract, parameters, 3);
                SavedParameterChecks.RequireInteger(Contract, parameters, 2, "minTokensToKeep", 0, int.MaxValue);
                break;
            case MinPKind:
                SavedParameterChecks.RequireLength(Contract, parameters, 2);
                break;
            case LogitBiasKind:
                if (parameters.Length % 2 != 1)
                {
                    throw SavedParameterChecks.Invalid(Contract, parameters, $"are {parameters.Length} values, expected the kind and (token id, bias) pairs");
                }

                for (int i = 1; i < parameters.Length; i += 2)
                {
                    SavedParameterChecks.RequireInteger(Contract, parameters, i, "a token id", 0, 1 << 24);
                }

                break;
            default:
                throw SavedParameterChecks.Invalid(Contract, parameters, $"start with the filter kind {parameters[0]}, expected {TopPKind} (top-p), {MinPKind} (min-p) or {LogitBiasKind} (logit bias)");
        }

        return Create(parameters);
    }

    public static string StageName(float[] parameters) => parameters[0] switch
    {
        TopPKind => "KeepTopP",
        MinPKind => "KeepMinP",
        _ => "AddLogitBias",
    };
}
