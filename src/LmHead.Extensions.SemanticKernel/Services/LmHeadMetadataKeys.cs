namespace LmHead.Extensions.SemanticKernel.Services;

/// <summary>
/// The keys of the metadata the LmHead services attach to a result: to a <c>TextContent</c>, to the last
/// <c>StreamingTextContent</c>, and to the <c>AdditionalProperties</c> of a chat response.
/// </summary>
public static class LmHeadMetadataKeys
{
    /// <summary>Why generation ended, a <see cref="Generation.FinishReason"/>.</summary>
    public const string FinishReason = "FinishReason";

    /// <summary>The token counts, a <see cref="Microsoft.Extensions.AI.UsageDetails"/> (input, output and total tokens).</summary>
    public const string Usage = "Usage";

    /// <summary>How many tokens the prompt encoded to, an <see cref="int"/>.</summary>
    public const string PromptTokenCount = "PromptTokenCount";

    /// <summary>How many tokens were generated, an <see cref="int"/>.</summary>
    public const string CompletionTokenCount = "CompletionTokenCount";

    /// <summary>
    /// Per generated token its log-probability and top alternatives, an
    /// <c>IReadOnlyList&lt;</c><see cref="Generation.TokenLogProbability"/><c>&gt;</c>; present only when
    /// <c>logprobs</c> or <c>top_logprobs</c> was requested.
    /// </summary>
    public const string LogProbabilities = "LogProbabilities";
}
