using LmHead.Extensions.Generation;

namespace LmHead.Extensions.SemanticKernel.Settings;

/// <summary>
/// The JSON names of the LmHead execution settings, as written in prompt YAML or JSON. They are not declared here:
/// they are the names <see cref="GenerationOptions"/> and <see cref="Decoding.DecodingOptions"/> give their own
/// properties (see <see cref="GenerationOptionsJson"/>).
/// </summary>
public static class LmHeadSettingNames
{
    /// <summary>Every supported setting name: <c>max_tokens</c>, <c>stop_sequences</c>, <c>logprobs</c>, <c>top_logprobs</c>, <c>raw_logprobs</c>, <c>temperature</c>, <c>top_k</c>, <c>top_p</c>, <c>min_p</c>, <c>repetition_penalty</c>, <c>frequency_penalty</c>, <c>presence_penalty</c>, <c>penalty_window</c>, <c>logit_bias</c>, <c>seed</c>, <c>greedy</c>.</summary>
    public static IReadOnlyList<string> All => GenerationOptionsJson.AllKeys;

    /// <summary>
    /// OpenAI settings that change nothing a local model could honour, skipped when a service is told to ignore them
    /// (<c>IgnoreHarmlessOpenAiSettings</c>): <c>user</c>, <c>store</c>, <c>metadata</c>, <c>service_tier</c>,
    /// <c>parallel_tool_calls</c>, <c>stream</c>, <c>stream_options</c>, and <c>n</c> when it is 1. Any other unknown key
    /// is still an error.
    /// </summary>
    public static IReadOnlyList<string> HarmlessOpenAiSettings { get; } =
        ["user", "store", "metadata", "service_tier", "parallel_tool_calls", "stream", "stream_options", "n"];
}
