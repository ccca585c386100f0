namespace LmHead.Extensions.SemanticKernel.Settings;

/// <summary>The JSON names of the LmHead execution settings, as written in prompt YAML or JSON.</summary>
public static class LmHeadSettingNames
{
    /// <summary>The sampling temperature: <c>temperature</c>.</summary>
    public const string Temperature = "temperature";

    /// <summary>The top-k filter: <c>top_k</c>.</summary>
    public const string TopK = "top_k";

    /// <summary>The most tokens to generate: <c>max_tokens</c>.</summary>
    public const string MaxTokens = "max_tokens";

    /// <summary>The stop sequences: <c>stop_sequences</c>.</summary>
    public const string StopSequences = "stop_sequences";

    /// <summary>The sampler seed: <c>seed</c>.</summary>
    public const string Seed = "seed";

    /// <summary>Whether to report log-probabilities: <c>logprobs</c>.</summary>
    public const string LogProbabilities = "logprobs";

    /// <summary>How many alternatives to report per token: <c>top_logprobs</c>.</summary>
    public const string TopLogProbabilities = "top_logprobs";

    /// <summary>Every supported setting name.</summary>
    public static IReadOnlyList<string> All { get; } = [Temperature, TopK, MaxTokens, StopSequences, Seed, LogProbabilities, TopLogProbabilities];
}
