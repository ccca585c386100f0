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

    /// <summary>Nucleus sampling mass: <c>top_p</c>.</summary>
    public const string TopP = "top_p";

    /// <summary>The min-p threshold: <c>min_p</c>.</summary>
    public const string MinP = "min_p";

    /// <summary>Hugging Face's repetition penalty: <c>repetition_penalty</c>.</summary>
    public const string RepetitionPenalty = "repetition_penalty";

    /// <summary>OpenAI's frequency penalty: <c>frequency_penalty</c>.</summary>
    public const string FrequencyPenalty = "frequency_penalty";

    /// <summary>OpenAI's presence penalty: <c>presence_penalty</c>.</summary>
    public const string PresencePenalty = "presence_penalty";

    /// <summary>Per-token additive logit bias (token id → bias; -100 or less bans): <c>logit_bias</c>.</summary>
    public const string LogitBias = "logit_bias";

    /// <summary>Whether special-token text in the prompt encodes as the special token: <c>allow_special_tokens</c>.</summary>
    public const string AllowSpecialTokens = "allow_special_tokens";

    /// <summary>Every supported setting name.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Temperature, TopK, MaxTokens, StopSequences, Seed, LogProbabilities, TopLogProbabilities, TopP, MinP, RepetitionPenalty, FrequencyPenalty, PresencePenalty, LogitBias, AllowSpecialTokens];
}
